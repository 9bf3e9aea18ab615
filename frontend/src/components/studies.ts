/** Imaging studies of a patient: one tile per series with a thumbnail from the DICOMweb proxy. */

import type { Api } from '../api/client';
import { ApiError, errorText } from '../api/errors';
import type { ImagingStudy } from '../api/types';
import type { UploadListener } from '../api/upload';
import { h } from '../lib/dom';
import { dateFormat } from '../lib/format';
import { uploadText } from '../lib/progress';
import { routeHref } from '../lib/routes';
import { stateEmpty } from './states';

/**
 * Thumbnail URLs to try in order: the DICOMweb thumbnail resource (our proxy makes one from the
 * series' middle slice when the PACS has none), then the rendered series at the same size.
 */
export function thumbnailUrls(dicomwebRoot: string, studyUid: string, seriesUid: string): string[] {
  const base = `${dicomwebRoot}/studies/${studyUid}/series/${seriesUid}`;
  return [`${base}/thumbnail?viewport=128,128`, `${base}/rendered?viewport=128,128`];
}

/**
 * A series thumbnail. Fetched (not an <img src>) so that the request can ask for JPEG: the
 * browser's own image Accept header lists AVIF/WebP, which PACS servers may refuse.
 */
export function thumbnail(dicomwebRoot: string, studyUid: string, seriesUid: string, modality: string): HTMLElement {
  const box = h('span', { class: 'thumb', 'data-thumb': 'loading' }, h('span', { class: 'thumb-placeholder', 'aria-hidden': 'true' }, modality || '?'));
  void (async () => {
    for (const url of thumbnailUrls(dicomwebRoot, studyUid, seriesUid)) {
      try {
        const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'image/jpeg' } });
        const type = response.headers.get('Content-Type') ?? '';
        if (!response.ok || !type.startsWith('image/')) continue;
        const objectUrl = URL.createObjectURL(await response.blob());
        const img = h('img', { alt: '', width: 96, height: 96, decoding: 'async' });
        img.addEventListener('load', () => URL.revokeObjectURL(objectUrl), { once: true });
        img.src = objectUrl;
        box.replaceChildren(img);
        box.dataset.thumb = 'loaded';
        return;
      } catch {
        // Try the next form; the placeholder stays if none works.
      }
    }
    box.dataset.thumb = 'none';
  })();
  return box;
}

export function studiesRender(studies: readonly ImagingStudy[], body: HTMLElement, options: { dicomwebRoot: string; patientId: number }): void {
  if (studies.length === 0) {
    body.appendChild(stateEmpty('No imaging studies linked to this patient.'));
    return;
  }
  for (const study of studies) {
    const uidStudy = study.study_instance_uid;
    const href = routeHref({ name: 'study', studyUid: uidStudy, patientId: options.patientId, seriesUid: null });
    const modalities = study.modalities || [...new Set(study.series.map((s) => s.modality))].join(',');
    body.appendChild(h('article', { class: 'study', 'data-study': uidStudy },
      h('h3', null, h('a', { href, class: 'study-link' }, study.description || 'Imaging study'),
        h('span', { class: 'muted' }, ` · ${study.study_date ? dateFormat(study.study_date) : 'undated'} · ${modalities.replace(/,/g, ', ')}`)),
      study.series.length
        ? h('ul', { class: 'series-tiles' }, ...study.series.map((s) => h('li', null,
          h('a', { href: routeHref({ name: 'study', studyUid: uidStudy, patientId: options.patientId, seriesUid: s.series_instance_uid }), class: 'series-tile', 'data-series': s.series_instance_uid },
            thumbnail(options.dicomwebRoot, uidStudy, s.series_instance_uid, s.modality),
            h('span', { class: 'series-label' }, `${s.modality}${s.series_number !== null && s.series_number !== undefined ? ` #${s.series_number}` : ''}`,
              h('br'), h('span', { class: 'muted' }, s.description || `${s.number_of_instances ?? '?'} images`))))))
        : h('p', { class: 'muted' }, 'No series listed.'),
    ));
  }
}

/** Clinician actions on the imaging card: upload DICOM files, link studies from the PACS. */
export function imagingActions(options: {
  api: Api; patientId: number; announce: (text: string, kind?: 'info' | 'error') => void; after: () => Promise<void>;
}): HTMLElement[] {
  const { api, patientId, announce, after } = options;
  const input = h('input', { type: 'file', multiple: true, accept: '.dcm,.zip,application/dicom,application/zip', id: 'imaging-file', class: 'visually-hidden', tabindex: '-1', 'aria-label': 'DICOM files to upload' });
  const upload = h('button', { type: 'button', class: 'btn btn-small', id: 'imaging-upload', title: 'DICOM files or zip archives of them' }, 'Upload DICOM…');
  const sync = h('button', { type: 'button', class: 'btn btn-small', id: 'imaging-sync', title: 'Link this patient\'s studies from the PACS (PatientID = MRN)' }, 'Sync from PACS');
  // Bytes sent and the time left while a large series goes up (the server answers only at the end).
  const progressText = h('span', { class: 'progress-text', id: 'imaging-upload-text', 'aria-live': 'polite' });
  const progress = h('span', { class: 'upload-progress', id: 'imaging-upload-progress', hidden: true },
    h('progress', { max: 1, value: 0, 'aria-label': 'Upload progress' }), progressText);
  const bar = progress.querySelector('progress') as HTMLProgressElement;
  upload.addEventListener('click', () => input.click());
  input.addEventListener('change', () => {
    const files = [...(input.files ?? [])];
    input.value = '';
    if (files.length === 0) return;
    upload.disabled = true;
    const what = `Uploading ${files.length} file${files.length === 1 ? '' : 's'}`;
    upload.textContent = `${what}…`;
    progress.hidden = false;
    const onProgress: UploadListener = (sent, total, etaS) => {
      bar.max = Math.max(total, 1);
      bar.value = sent;
      progressText.textContent = `${what}: ${uploadText(sent, total, etaS)}`;
    };
    api.imagingUpload(patientId, files, onProgress).then(async (report) => {
      const rejected = report.rejected ? `, ${report.rejected} rejected (${[...new Set(report.files.filter((f) => f.code).map((f) => f.code))].join(', ')})` : '';
      announce(`${report.stored} file${report.stored === 1 ? '' : 's'} stored${rejected}.`, report.rejected ? 'error' : 'info');
      await after();
    }).catch((error: unknown) => {
      const detail = error instanceof ApiError && error.detail && typeof error.detail === 'object' ? (error.detail as { files?: { code: string | null }[] }).files : undefined;
      const codes = detail ? [...new Set(detail.map((f) => f.code).filter(Boolean))].join(', ') : '';
      announce(`${error instanceof ApiError ? errorText(error) : 'The upload failed.'}${codes ? ` (${codes})` : ''}`, 'error');
    }).finally(() => {
      upload.disabled = false;
      upload.textContent = 'Upload DICOM…';
      progress.hidden = true;
      progressText.textContent = '';
    });
  });
  sync.addEventListener('click', () => {
    sync.disabled = true;
    api.imagingSync(patientId).then(async (report) => {
      const mismatches = report.mismatches.length ? `; ${report.mismatches.length} study(ies) need confirmation (PatientID differs)` : '';
      announce(`${report.linked.length} study(ies) linked, ${report.refreshed.length} refreshed${mismatches}.`);
      await after();
    }).catch((error: unknown) => {
      announce(error instanceof ApiError ? errorText(error) : 'The PACS could not be searched.', 'error');
    }).finally(() => {
      sync.disabled = false;
    });
  });
  return [upload, sync, input, progress];
}
