/**
 * A report version's place in its lifecycle, and the release step: draft -> signed ->
 * (amended | superseded); release to the patient is its own, audited step on the current
 * signed version (inference/reports/services.py). The page only shows what the server allows;
 * the server enforces it.
 */

import type { Api } from '../api/client';
import { ApiError, errorText } from '../api/errors';
import type { Report, ReportSummary } from '../api/types';
import { h, replace } from '../lib/dom';
import { dateTimeFormat } from '../lib/format';
import './findingReview.css';

const STATE_TEXT: Record<string, string> = { draft: 'draft', final: 'signed', amended: 'amended', superseded: 'superseded' };

/** "draft", "signed", "amended", "superseded", with "released" beside a released version. */
export function reportStateBadges(report: ReportSummary): HTMLElement {
  const state = STATE_TEXT[report.status] ?? report.status;
  return h('span', { class: 'report-state', 'data-state': report.status },
    h('span', { class: `badge badge-${report.status}`, 'data-badge': 'state' }, state),
    report.released_at ? h('span', { class: 'badge badge-released', 'data-badge': 'released' }, 'released') : null);
}

export interface ReleaseOptions {
  readonly api: Api;
  readonly canRelease: boolean;
  readonly announce?: (text: string) => void;
  readonly onReleased?: (report: Report) => void;
}

/** Who released the version and when, or the button that releases the current signed one. */
export function releaseArea(report: Report, options: ReleaseOptions): HTMLElement {
  const area = h('div', { class: 'release-area', id: 'report-release' });
  const draw = (current: Report): void => {
    if (current.released_at) {
      replace(area, h('p', { class: 'released', id: 'report-released' },
        `Released to the patient${current.released_by_name ? ` by ${current.released_by_name}` : ''} on ${dateTimeFormat(current.released_at)}.`));
      return;
    }
    if (current.status !== 'final') {
      replace(area, h('p', { class: 'muted small' }, current.status === 'draft'
        ? 'Not visible to the patient: a draft is never released. Sign it first.'
        : 'Not visible to the patient: only the current signed version can be released.'));
      return;
    }
    if (!options.canRelease) {
      replace(area, h('p', { class: 'muted small' }, 'Signed; not yet released to the patient.'));
      return;
    }
    const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
    const button = h('button', { type: 'button', class: 'btn', id: 'release-submit' }, 'Release to the patient');
    button.addEventListener('click', () => {
      button.disabled = true;
      options.api.reportRelease(current.id).then((released) => {
        options.announce?.('Report released to the patient.');
        draw(released);
        options.onReleased?.(released);
      }).catch((caught: unknown) => {
        button.disabled = false;
        error.hidden = false;
        error.textContent = caught instanceof ApiError ? errorText(caught) : 'Could not release.';
      });
    });
    replace(area, h('p', { class: 'muted small' }, 'Signed; the patient sees it only once released.'), button, error);
  };
  draw(report);
  return area;
}

/**
 * The signed measurements as a DICOM SR in the image archive (inference/reports/dicom_sr.py):
 * stored (with a download), still being stored (the worker retries while the archive is away),
 * or none. Read from the report's ``dicom_sr`` field; a draft has none.
 */
export function srArea(report: Report, downloadUrl: string): HTMLElement | null {
  const raw = (report as unknown as { dicom_sr?: { status?: string; documents?: unknown[] } }).dicom_sr;
  const status = raw?.status ?? '';
  if (report.status === 'draft' || !status || status === 'not_applicable') return null;
  const area = h('p', { class: 'sr-area muted small', id: 'report-sr', 'data-sr-status': status });
  if (status === 'stored') {
    area.append('Reviewed measurements stored in the image archive as a DICOM structured report. ',
      h('a', { href: downloadUrl, download: `report-${report.id}-v${report.version}-sr.dcm`, 'data-native': '', id: 'report-sr-download' },
        'Download DICOM SR'));
  } else if (status === 'pending') {
    area.append('The reviewed measurements are being stored in the image archive as a DICOM structured report; '
      + 'the signature does not depend on it.');
  } else {
    area.append('The DICOM structured report of these measurements could not be made; the signed report is unaffected.');
  }
  return area;
}
