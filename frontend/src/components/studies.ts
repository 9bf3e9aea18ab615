/** Imaging studies of a patient: one tile per series with a thumbnail from the DICOMweb proxy. */

import type { ImagingSeries, ImagingStudy } from '../api/types';
import { h } from '../lib/dom';
import { dateFormat } from '../lib/format';
import { routeHref } from '../lib/routes';
import { stateEmpty } from './states';

/** Thumbnail URLs to try in order: the DICOMweb thumbnail, then a rendered frame. */
export function thumbnailUrls(dicomwebRoot: string, studyUid: string, seriesUid: string): string[] {
  const base = `${dicomwebRoot}/studies/${studyUid}/series/${seriesUid}`;
  return [`${base}/thumbnail?viewport=128,128`, `${base}/rendered?viewport=128,128`];
}

export function thumbnail(dicomwebRoot: string, studyUid: string, series: ImagingSeries): HTMLElement {
  const urls = thumbnailUrls(dicomwebRoot, studyUid, series.series_uid);
  const placeholder = h('span', { class: 'thumb-placeholder', 'aria-hidden': 'true' }, series.modality || '?');
  const img = h('img', { alt: '', width: 96, height: 96, loading: 'lazy', decoding: 'async' });
  let index = 0;
  img.addEventListener('error', () => {
    index += 1;
    if (index < urls.length) img.src = urls[index] as string;
    else img.replaceWith(placeholder);
  });
  img.src = urls[0] as string;
  return h('span', { class: 'thumb' }, img);
}

function studyDate(study: ImagingStudy): string {
  return study.study_date ? dateFormat(study.study_date) : 'undated';
}

export function studiesRender(studies: readonly ImagingStudy[], body: HTMLElement, options: { dicomwebRoot: string; patientId: number }): void {
  if (studies.length === 0) {
    body.appendChild(stateEmpty('No imaging studies linked to this patient.'));
    return;
  }
  for (const study of studies) {
    const series = study.series ?? [];
    const href = routeHref({ name: 'study', studyUid: study.study_uid, patientId: options.patientId, seriesUid: null });
    body.appendChild(h('article', { class: 'study', 'data-study': study.study_uid },
      h('h3', null, h('a', { href, class: 'study-link' }, study.description || 'Imaging study'),
        h('span', { class: 'muted' }, ` · ${studyDate(study)} · ${(study.modalities ?? [...new Set(series.map((s) => s.modality))]).join(', ')}`)),
      series.length
        ? h('ul', { class: 'series-tiles' }, ...series.map((s) => h('li', null,
          h('a', { href: routeHref({ name: 'study', studyUid: study.study_uid, patientId: options.patientId, seriesUid: s.series_uid }), class: 'series-tile' },
            thumbnail(options.dicomwebRoot, study.study_uid, s),
            h('span', { class: 'series-label' }, `${s.modality}${s.number !== null && s.number !== undefined ? ` #${s.number}` : ''}`,
              h('br'), h('span', { class: 'muted' }, s.description || `${s.instance_count ?? '?'} images`))))))
        : h('p', { class: 'muted' }, 'No series listed.'),
    ));
  }
}
