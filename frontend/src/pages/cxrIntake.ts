/**
 * Chest X-ray intake (/cxr-intake): classify images that are not in the PACS yet.
 *
 * Three inputs: a batch of image files (a table of per-image results, sortable by probability,
 * CSV export), a video file (frames sampled by the server, a probability timeline, the most
 * suspicious frames kept as key images) and a camera capture (getUserMedia; a photograph of a
 * film or a screen is outside the model's training data, so the page says so, and the server's
 * out-of-distribution check says when it applies). The worker does the work; the page follows
 * the job's progress and can file the images into a patient's record as a study.
 */

import type { AppContext, Page } from '../app';
import { ApiError, errorText } from '../api/errors';
import { h, replace } from '../lib/dom';
import { uploadText } from '../lib/progress';

type Mode = 'batch' | 'video' | 'camera';

export interface IntakeRow {
  readonly index: number;
  readonly name: string;
  readonly probability: number;
  readonly threshold: number;
  readonly label: string;
  readonly decision: string;
  readonly uncertain: boolean;
  readonly frame?: number;
  readonly key_image?: boolean;
  readonly heatmap?: string;
  readonly ood: { readonly flag: boolean; readonly reasons: string[]; readonly messages: string[] } | null;
}

export interface IntakeJob {
  readonly id: number;
  readonly mode: Mode;
  readonly status: string;
  readonly progress: number;
  readonly done: number;
  readonly total: number;
  readonly error_code: string | null;
  readonly error_message: string | null;
  readonly model: { readonly key: string; readonly version: string } | null;
  readonly disclaimer: string;
  readonly results: IntakeRow[];
  readonly timeline: { readonly frame: number; readonly probability: number }[];
  readonly filed: { readonly patient: number; readonly study_instance_uid: string }[];
}

const FINISHED = new Set(['succeeded', 'failed']);
const POLL_MS = 600;
const CAMERA_WARNING =
  'A camera picture of a film or a screen is not what the model was trained on (digital paediatric radiographs): '
  + 'treat its result with caution.';

export function percent(p: number): string {
  return `${(100 * p).toFixed(1)} %`;
}

export function decisionText(row: IntakeRow): string {
  if (row.decision === 'out_of_distribution') return 'Not assessed: out of distribution';
  if (row.decision === 'uncertain') return 'Uncertain (model abstains)';
  return row.decision === 'PNEUMONIA' ? 'Pneumonia suspected' : 'No pneumonia suspected';
}

/** Rows sorted by probability (descending unless ``ascending``), ties by input order. */
export function rowsSorted(rows: readonly IntakeRow[], ascending: boolean): IntakeRow[] {
  return [...rows].sort((a, b) => (ascending ? a.probability - b.probability : b.probability - a.probability) || a.index - b.index);
}

/** SVG polyline points for a probability timeline in a ``width`` x ``height`` box. */
export function timelinePoints(timeline: IntakeJob['timeline'], width: number, height: number): string {
  if (timeline.length === 0) return '';
  const last = Math.max(1, timeline[timeline.length - 1]!.frame);
  return timeline.map((t) => `${((t.frame / last) * width).toFixed(1)},${((1 - t.probability) * height).toFixed(1)}`).join(' ');
}

export function cxrIntakePage(ctx: AppContext): Page {
  const http = ctx.api.http;
  let job: IntakeJob | null = null;
  let ascending = false;
  let stream: MediaStream | null = null;
  let timer: number | null = null;
  let alive = true;

  const error = h('div', { class: 'alert alert-error', role: 'alert', id: 'cxr-error', hidden: true });
  const progress = h('progress', { id: 'cxr-progress', max: 100, value: 0, 'aria-label': 'Progress' });
  const progressText = h('span', { id: 'cxr-progress-text', 'aria-live': 'polite' });
  const results = h('section', { id: 'cxr-results', 'aria-label': 'Results' });
  const oodWarning = h('div', { class: 'alert alert-warning', id: 'cxr-ood-warning', role: 'status', hidden: true });

  function showError(message: string): void {
    error.textContent = message;
    error.hidden = false;
  }

  async function start(mode: Mode, files: File[] | Blob[], names?: string[]): Promise<void> {
    error.hidden = true;
    replace(results);
    if (files.length === 0) {
      showError('Choose at least one file.');
      return;
    }
    const form = new FormData();
    form.append('mode', mode);
    files.forEach((f, i) => form.append('files', f, names?.[i] ?? (f as File).name ?? `capture-${i}.png`));
    progress.value = 0;
    progressText.textContent = 'Uploading…';
    try {
      // The bar shows the upload's share until the server takes over with its own counts.
      job = await http.postFormWithProgress<IntakeJob>('/cxr-intake/', form, (sent, total, etaS) => {
        progress.value = total > 0 ? (100 * sent) / total : 0;
        progressText.textContent = `Uploading: ${uploadText(sent, total, etaS)}`;
      });
    } catch (e) {
      progressText.textContent = '';
      showError(e instanceof ApiError ? `${errorText(e)} (${e.code})` : String(e));
      return;
    }
    poll();
  }

  function poll(): void {
    if (!alive || job === null) return;
    void http.get<IntakeJob>(`/cxr-intake/${job.id}/`).then((fresh) => {
      job = fresh;
      progress.value = fresh.progress;
      progressText.textContent = `${fresh.done} of ${fresh.total} image(s) · ${fresh.status}`;
      if (FINISHED.has(fresh.status)) {
        render();
        ctx.announce(fresh.status === 'succeeded' ? 'Classification finished.' : 'Classification failed.');
      } else {
        timer = window.setTimeout(poll, POLL_MS);
      }
    }).catch((e: unknown) => {
      showError(e instanceof ApiError ? errorText(e) : String(e));
    });
  }

  function render(): void {
    if (job === null) return;
    if (job.status === 'failed') {
      showError(`${job.error_message ?? 'The classification failed.'} (${job.error_code ?? 'error'})`);
      return;
    }
    const model = job.model ? `${job.model.key} ${job.model.version}` : '';
    const parts: (Node | null)[] = [
      h('p', { class: 'muted', id: 'cxr-model' }, `Model ${model}: AI results ${job.disclaimer}.`),
    ];
    const flagged = job.results.filter((r) => r.ood?.flag);
    if (job.mode === 'camera' || flagged.length > 0) {
      const messages = [...new Set(flagged.flatMap((r) => r.ood?.messages ?? []))];
      replace(oodWarning, h('strong', null, 'Out-of-distribution warning. '),
        job.mode === 'camera' ? CAMERA_WARNING : '', messages.length ? ` ${messages.join(' ')}` : '');
      oodWarning.hidden = false;
    } else {
      oodWarning.hidden = true;
    }
    if (job.mode === 'video') parts.push(timelineView(job));
    parts.push(tableView(job), filingView(job));
    replace(results, ...parts);
  }

  function tableView(current: IntakeJob): HTMLElement {
    const rows = current.mode === 'video' ? current.results.filter((r) => r.key_image) : current.results;
    const sortButton = h('button', { type: 'button', class: 'btn btn-quiet', id: 'cxr-sort' },
      `P(pneumonia) ${ascending ? '▲' : '▼'}`);
    sortButton.addEventListener('click', () => {
      ascending = !ascending;
      render();
    });
    const body = rowsSorted(rows, ascending).map((r) => h('tr', { 'data-index': r.index, 'data-probability': r.probability.toFixed(6) },
      h('td', null, h('input', { type: 'checkbox', class: 'cxr-pick', value: r.index, 'aria-label': `Select ${r.name}`, checked: true })),
      h('td', { class: 'cxr-name' }, r.frame !== undefined ? `frame ${r.frame}` : r.name),
      h('td', { class: 'cxr-probability' }, percent(r.probability)),
      h('td', { class: `cxr-decision decision-${r.decision}` }, decisionText(r)),
      h('td', null, r.heatmap ? h('img', { src: r.heatmap, alt: `Heatmap for ${r.name}`, class: 'cxr-heatmap', width: 96, height: 96 }) : '—'),
    ));
    const csv = h('a', { href: http.api(`/cxr-intake/${current.id}/results.csv`), id: 'cxr-csv', class: 'btn', download: `cxr-intake-${current.id}.csv` }, 'Export CSV');
    return h('div', null,
      h('h2', null, current.mode === 'video' ? 'Key frames (most suspicious)' : 'Results'),
      h('table', { class: 'table', id: 'cxr-table' },
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'File'), h('th', { scope: 'col' }, 'Image'),
          h('th', { scope: 'col', 'aria-sort': ascending ? 'ascending' : 'descending' }, sortButton),
          h('th', { scope: 'col' }, 'Decision'), h('th', { scope: 'col' }, 'Heatmap'))),
        h('tbody', null, body)),
      csv);
  }

  function timelineView(current: IntakeJob): HTMLElement {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 400 100');
    svg.setAttribute('width', '400');
    svg.setAttribute('height', '100');
    svg.setAttribute('id', 'cxr-timeline');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', `Probability of pneumonia over ${current.timeline.length} sampled frames`);
    const line = document.createElementNS(ns, 'polyline');
    line.setAttribute('points', timelinePoints(current.timeline, 400, 100));
    line.setAttribute('fill', 'none');
    line.setAttribute('stroke', 'currentColor');
    line.setAttribute('stroke-width', '2');
    svg.appendChild(line);
    const threshold = current.results[0]?.threshold;
    if (threshold !== undefined) {
      const rule = document.createElementNS(ns, 'line');
      rule.setAttribute('x1', '0');
      rule.setAttribute('x2', '400');
      rule.setAttribute('y1', String((1 - threshold) * 100));
      rule.setAttribute('y2', String((1 - threshold) * 100));
      rule.setAttribute('stroke-dasharray', '4 4');
      rule.setAttribute('stroke', 'grey');
      svg.appendChild(rule);
    }
    return h('div', null, h('h2', null, 'Probability timeline'), svg as unknown as HTMLElement,
      h('p', { class: 'muted' }, `${current.timeline.length} frames sampled; dashed line: the model's threshold.`));
  }

  function filingView(current: IntakeJob): HTMLElement {
    const select = h('select', { id: 'cxr-file-patient', 'aria-label': 'Patient' }, h('option', { value: '' }, 'Choose a patient…'));
    void ctx.api.patientsSearch('', 1).then((page) => {
      for (const p of page.results) select.appendChild(h('option', { value: p.id }, `${p.family_name}, ${p.given_name} (${p.mrn})`));
    }).catch(() => undefined);
    const status = h('p', { id: 'cxr-file-status', role: 'status' });
    const button = h('button', { type: 'button', class: 'btn btn-primary', id: 'cxr-file' }, 'File into record as a study');
    button.addEventListener('click', () => {
      const patient = Number(select.value);
      if (!patient) {
        status.textContent = 'Choose a patient first.';
        return;
      }
      const indices = [...results.querySelectorAll<HTMLInputElement>('input.cxr-pick:checked')].map((c) => Number(c.value));
      button.disabled = true;
      void http.post<{ study_instance_uid: string; instances: number }>(`/cxr-intake/${current.id}/file/`, { patient, indices })
        .then((filed) => {
          replace(status, `Filed ${filed.instances} image(s) as a new study. `,
            h('a', { href: `/patients/${patient}`, id: 'cxr-filed-link' }, 'Open the record'));
        })
        .catch((e: unknown) => {
          status.textContent = e instanceof ApiError ? `${errorText(e)} (${e.code})` : String(e);
        })
        .finally(() => { button.disabled = false; });
    });
    return h('div', { class: 'cxr-filing' }, h('h2', null, 'File into a patient record'), select, button, status);
  }

  // --- inputs ---
  const batchInput = h('input', { type: 'file', id: 'cxr-batch-files', multiple: true, accept: 'image/*,.dcm' });
  const batchGo = h('button', { type: 'button', class: 'btn btn-primary', id: 'cxr-batch-go' }, 'Classify images');
  batchGo.addEventListener('click', () => void start('batch', [...(batchInput.files ?? [])]));

  const videoInput = h('input', { type: 'file', id: 'cxr-video-file', accept: 'video/*,.avi,.gif,.webp,.png' });
  const videoGo = h('button', { type: 'button', class: 'btn btn-primary', id: 'cxr-video-go' }, 'Analyse video');
  videoGo.addEventListener('click', () => void start('video', [...(videoInput.files ?? [])]));

  const video = h('video', { id: 'cxr-camera-video', autoplay: true, playsinline: true, muted: true, width: 320, height: 240 });
  const cameraStart = h('button', { type: 'button', class: 'btn', id: 'cxr-camera-start' }, 'Start camera');
  const cameraCapture = h('button', { type: 'button', class: 'btn btn-primary', id: 'cxr-camera-capture', disabled: true }, 'Capture and classify');
  cameraStart.addEventListener('click', () => {
    if (!navigator.mediaDevices?.getUserMedia) {
      showError('This browser cannot use a camera here (a secure origin is needed).');
      return;
    }
    void navigator.mediaDevices.getUserMedia({ video: true, audio: false }).then((s) => {
      stream = s;
      video.srcObject = s;
      cameraCapture.disabled = false;
      replace(oodWarning, h('strong', null, 'Out-of-distribution warning. '), CAMERA_WARNING);
      oodWarning.hidden = false;
    }).catch((e: unknown) => showError(`The camera could not be opened: ${String(e)}`));
  });
  cameraCapture.addEventListener('click', () => {
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth || 320;
    canvas.height = video.videoHeight || 240;
    canvas.getContext('2d')?.drawImage(video, 0, 0, canvas.width, canvas.height);
    canvas.toBlob((blob) => {
      if (blob) void start('camera', [blob], ['camera-capture.png']);
    }, 'image/png');
  });

  const element = h('div', { class: 'cxr-intake' },
    h('h1', null, 'Chest X-ray intake'),
    h('p', { class: 'muted' }, 'Paediatric frontal chest radiographs (1-5 years). Results support, and do not replace, clinical judgement.'),
    error,
    h('section', { 'aria-labelledby': 'cxr-batch-h' }, h('h2', { id: 'cxr-batch-h' }, 'Batch of images'), batchInput, batchGo),
    h('section', { 'aria-labelledby': 'cxr-video-h' }, h('h2', { id: 'cxr-video-h' }, 'Video file'),
      h('p', { class: 'muted' }, 'Motion-JPEG AVI, animated GIF, PNG or WebP.'), videoInput, videoGo),
    h('section', { 'aria-labelledby': 'cxr-camera-h' }, h('h2', { id: 'cxr-camera-h' }, 'Camera'), video, cameraStart, cameraCapture),
    h('div', { class: 'cxr-progress' }, progress, ' ', progressText),
    oodWarning,
    results,
  );

  return {
    element,
    title: 'Chest X-ray intake',
    destroy(): void {
      alive = false;
      if (timer !== null) window.clearTimeout(timer);
      stream?.getTracks().forEach((t) => t.stop());
    },
  };
}
