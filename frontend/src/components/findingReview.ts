/**
 * Review of AI findings (accept, edit, reject, with the reason), on the report page and in the
 * viewer's AI findings panel. Every model finding is a proposal until a clinician decides; the
 * server records who decided what and when, and answers with the new draft report version the
 * decision made (reports never change: see inference/findings/services.py).
 */

import type { Api } from '../api/client';
import { ApiError, errorText } from '../api/errors';
import type { FindingDecisionBody, FindingsDecided, ImagingFinding } from '../api/types';
import { h, replace } from '../lib/dom';
import { dateTimeFormat } from '../lib/format';
import { routeHref } from '../lib/routes';
import './findingReview.css';

/** Labels a clinician may give a lesion (inference/findings/services.py LESION_LABELS). */
export const LESION_LABELS: readonly (readonly [string, string])[] = [
  ['liver_lesion', 'Liver lesion'], ['suspected_hcc', 'Suspected HCC'], ['suspected_metastasis', 'Suspected metastasis'],
  ['cyst', 'Cyst (benign)'], ['haemangioma', 'Haemangioma (benign)'], ['other_benign', 'Other benign'],
];

const STATUS_TEXT: Record<string, string> = {
  proposed: 'proposed', accepted: 'accepted', edited: 'edited', rejected: 'rejected',
};

export function findingLabelText(label: string): string {
  return LESION_LABELS.find(([key]) => key === label)?.[1] ?? label.replace(/_/g, ' ');
}

function numberText(value: unknown, unit: string, digits = 1): string {
  return typeof value === 'number' && Number.isFinite(value) ? `${value.toFixed(digits)} ${unit}` : '—';
}

/** The finding's name in a row: "Lesion 2", "Liver segmentation", "Image classification". */
export function findingTitle(finding: ImagingFinding): string {
  if (finding.source === 'clinician') return `${findingLabelText(finding.label)} (entered)`;
  if (finding.kind === 'lesion' || finding.kind === 'nodule') {
    const number = finding.source_ref.startsWith('lesion:') ? finding.source_ref.slice('lesion:'.length) : '';
    return `${finding.kind === 'lesion' ? 'Lesion' : 'Nodule'} ${number}`.trim();
  }
  if (finding.kind === 'segmentation') return finding.label === 'brain_tumour' ? 'Brain tumour' : 'Liver segmentation';
  return 'Image classification';
}

export function findingMeasures(finding: ImagingFinding): string {
  const v = finding.values;
  if (finding.kind === 'classification') {
    return `${finding.label.replace(/_/g, ' ')} · probability ${numberText(v.probability, '', 2).trim()}`;
  }
  const parts = [
    'longest_axial_diameter_mm' in v ? numberText(v.longest_axial_diameter_mm, 'mm') : '',
    'volume_ml' in v ? numberText(v.volume_ml, 'mL') : '',
    'mean_density_hu' in v ? numberText(v.mean_density_hu, 'HU') : '',
    // brain_mri_seg: volume_ml above is the whole tumour; core, enhancing and the side follow
    'tumour_core_ml' in v ? `core ${numberText(v.tumour_core_ml, 'mL')}` : '',
    'enhancing_tumour_ml' in v ? `enhancing ${numberText(v.enhancing_tumour_ml, 'mL')}` : '',
    typeof v.hemisphere === 'string' ? `${v.hemisphere} hemisphere` : '',
  ].filter(Boolean);
  return parts.join(' · ') || '—';
}

export interface FindingReviewOptions {
  readonly api: Api;
  /** Where the findings come from: a report version (its analysis), optionally one series only. */
  readonly reportId: number;
  readonly seriesUid?: string;
  /** Clinicians and admins decide; others read. */
  readonly canDecide: boolean;
  readonly announce?: (text: string) => void;
  /** After a decision: the findings as they stand and the new draft version. */
  readonly onDecided?: (result: FindingsDecided) => void;
  /** Show a link to the draft a decision made (the viewer; the report page opens it instead). */
  readonly draftLink?: boolean;
}

export class FindingReview {
  readonly element: HTMLElement;
  private readonly options: FindingReviewOptions;
  private readonly body: HTMLElement;
  private findings: ImagingFinding[] = [];
  private draft: FindingsDecided['report'] = null;
  private destroyed = false;

  constructor(options: FindingReviewOptions) {
    this.options = options;
    this.body = h('div', { class: 'finding-review-body', 'aria-live': 'polite' });
    this.element = h('section', { class: 'finding-review', 'aria-labelledby': 'finding-review-title' },
      h('h2', { id: 'finding-review-title', class: 'finding-review-title' }, 'Review of AI findings'),
      this.body);
  }

  async load(): Promise<void> {
    replace(this.body, h('p', { class: 'muted small', role: 'status' }, 'Loading findings…'));
    try {
      const all = await this.options.api.reportFindings(this.options.reportId);
      this.findings = this.options.seriesUid ? all.filter((f) => f.series_uid === this.options.seriesUid || f.source === 'clinician') : all;
    } catch (error: unknown) {
      if (!this.destroyed) replace(this.body, h('p', { class: 'muted small' }, error instanceof ApiError ? errorText(error) : 'Findings are not available.'));
      return;
    }
    if (!this.destroyed) this.draw();
  }

  destroy(): void {
    this.destroyed = true;
  }

  private draw(): void {
    if (this.findings.length === 0) {
      this.element.hidden = true;
      return;
    }
    this.element.hidden = false;
    const pending = this.findings.filter((f) => f.status === 'proposed').length;
    this.element.dataset.pending = String(pending);
    replace(this.body,
      pending
        ? h('p', { class: 'finding-review-notice', role: 'status' },
          `${pending} AI finding(s) proposed and not yet reviewed: they count for nothing until accepted, and the report cannot be signed until each is decided.`)
        : h('p', { class: 'muted small finding-review-done' }, 'Every AI finding has been reviewed.'),
      this.options.draftLink && this.draft
        ? h('p', { class: 'small' }, h('a', { class: 'finding-review-draft', href: routeHref({ name: 'report', reportId: this.draft.id }) },
          `Report v${this.draft.version} (draft) reflects these decisions`))
        : null,
      h('table', { class: 'table compact finding-review-table' },
        h('thead', null, h('tr', null, ...['Finding', 'Measurements', 'State', 'Decision', ''].map((label) => h('th', { scope: 'col' }, label)))),
        h('tbody', null, ...this.findings.map((finding) => this.row(finding)))));
  }

  private row(finding: ImagingFinding): HTMLElement {
    const decided = finding.decided_by
      ? `${finding.decided_by}${finding.decided_at ? `, ${dateTimeFormat(finding.decided_at)}` : ''}${finding.reason ? ` — ${finding.reason}` : ''}`
      : '';
    const actions = h('td', { class: 'finding-actions' });
    const row = h('tr', {
      class: 'finding-row', 'data-finding': String(finding.id), 'data-status': finding.status, 'data-ref': finding.source_ref,
      'data-kind': finding.kind,
    },
    h('th', { scope: 'row' }, findingTitle(finding), finding.kind === 'lesion' ? h('span', { class: 'muted small' }, ` · ${findingLabelText(finding.label)}`) : null),
    h('td', { class: 'measure-value' }, findingMeasures(finding)),
    h('td', null, h('span', { class: `badge finding-status finding-${finding.status}` }, STATUS_TEXT[finding.status] ?? finding.status)),
    h('td', { class: 'small finding-decided' }, decided),
    actions);
    if (this.options.canDecide && finding.source === 'model') {
      const button = (action: string, text: string, onClick: () => void): HTMLButtonElement => {
        const b = h('button', { type: 'button', class: 'btn btn-small', 'data-action': action }, text);
        b.addEventListener('click', onClick);
        return b;
      };
      actions.append(
        finding.status !== 'accepted' ? button('accept', 'Accept', () => void this.decide(finding, row, { status: 'accepted' })) : '',
        button('edit', 'Edit…', () => this.openForm(finding, row, 'edited')),
        finding.status !== 'rejected' ? button('reject', 'Reject…', () => this.openForm(finding, row, 'rejected')) : '',
      );
    }
    return row;
  }

  /** An inline form under the row: the reason (required), and for an edit the label and sizes. */
  private openForm(finding: ImagingFinding, row: HTMLElement, status: 'edited' | 'rejected'): void {
    row.parentElement?.querySelector('.finding-form-row')?.remove();
    const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
    const reason = h('textarea', { name: 'reason', rows: 2, required: true, 'aria-label': 'Reason' });
    const isLesion = finding.kind === 'lesion' || finding.kind === 'nodule';
    const label = h('select', { name: 'label', 'aria-label': 'Label' },
      ...LESION_LABELS.map(([key, text]) => h('option', { value: key, selected: key === finding.label }, text)));
    const numberInput = (name: string, value: unknown, text: string): HTMLInputElement =>
      h('input', { type: 'number', name, step: '0.1', min: '0.1', value: typeof value === 'number' ? String(value) : '', 'aria-label': text });
    const diameter = numberInput('longest_axial_diameter_mm', finding.values.longest_axial_diameter_mm, 'Longest diameter (mm)');
    const volume = numberInput('volume_ml', finding.values.volume_ml, 'Volume (mL)');
    const edits = status === 'edited'
      ? h('div', { class: 'finding-edit-fields' },
        isLesion ? h('label', null, 'Label ', label) : null,
        isLesion ? h('label', null, 'Longest diameter (mm) ', diameter) : null,
        finding.kind !== 'classification' ? h('label', null, 'Volume (mL) ', volume) : null)
      : null;
    const confirm = h('button', { type: 'submit', class: 'btn btn-primary btn-small', 'data-action': 'confirm' },
      status === 'rejected' ? 'Reject finding' : 'Save edit');
    const cancel = h('button', { type: 'button', class: 'btn btn-quiet btn-small' }, 'Cancel');
    const form = h('form', { class: 'finding-form', novalidate: true },
      edits, h('label', { class: 'finding-reason' }, status === 'rejected' ? 'Why is it rejected? ' : 'Why the change? ', reason),
      error, confirm, cancel);
    const formRow = h('tr', { class: 'finding-form-row', 'data-for': String(finding.id) }, h('td', { colspan: 5 }, form));
    cancel.addEventListener('click', () => formRow.remove());
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const text = reason.value.trim();
      if (!text) {
        error.hidden = false;
        error.textContent = 'Give the reason.';
        reason.focus();
        return;
      }
      let body: FindingDecisionBody = { status, reason: text };
      if (status === 'edited') {
        const values: Record<string, number> = {};
        for (const [input, key] of [[diameter, 'longest_axial_diameter_mm'], [volume, 'volume_ml']] as const) {
          const value = Number.parseFloat(input.value);
          if (input.isConnected && Number.isFinite(value) && value !== finding.values[key]) values[key] = value;
        }
        body = { ...body, ...(isLesion && label.value !== finding.label ? { label: label.value } : {}), ...(Object.keys(values).length ? { values } : {}) };
      }
      void this.decide(finding, row, body, error);
    });
    row.after(formRow);
    reason.focus();
  }

  private async decide(finding: ImagingFinding, row: HTMLElement, body: FindingDecisionBody, error?: HTMLElement): Promise<void> {
    for (const button of Array.from(row.parentElement?.querySelectorAll<HTMLButtonElement>('button') ?? [])) button.disabled = true;
    try {
      const result = await this.options.api.findingDecide(finding.id, body);
      this.findings = this.options.seriesUid
        ? result.findings.filter((f) => f.series_uid === this.options.seriesUid || f.source === 'clinician')
        : [...result.findings];
      this.draft = result.report ?? this.draft;
      this.options.announce?.(`${findingTitle(finding)} ${body.status}.${result.report ? ` Draft v${result.report.version} made.` : ''}`);
      if (!this.destroyed) this.draw();
      this.options.onDecided?.(result);
    } catch (caught: unknown) {
      for (const button of Array.from(row.parentElement?.querySelectorAll<HTMLButtonElement>('button') ?? [])) button.disabled = false;
      const text = caught instanceof ApiError ? errorText(caught) : 'Could not record the decision.';
      if (error) {
        error.hidden = false;
        error.textContent = text;
      } else {
        this.options.announce?.(text);
      }
    }
  }
}
