/**
 * The consult room's AI findings panel: the shared patient's analyses as the share allows,
 * each with its live progress and its findings (what, which model and version, where the
 * review stands). Whoever may decide findings (the care team) accepts or rejects them here;
 * a consultant sees them only. Progress arrives over the room socket (``onEvent``); a
 * change of findings or reports makes the panel read them again over REST.
 */

import type { Http } from '../api/http';
import { h, replace } from '../lib/dom';
import {
  type RoomAnalysis, type RoomFinding, type RoomFindings, failureText, findingDecide, roomFindings,
} from './consultApi';

export type AnalysisEvent =
  | { type: 'analysis.progress' | 'analysis.status' | 'report.ready'; request_id: number; status: string; step: string; progress: number; report_id: number | null }
  | { type: 'record.changed'; record: string; action: string; ids: number[] };

const STATUS_TEXT: Record<string, string> = {
  proposed: 'Proposed (not reviewed)', accepted: 'Accepted', edited: 'Edited', rejected: 'Rejected',
};

export function findingValueText(key: string, value: number | string | null): string {
  if (value === null || value === undefined) return '';
  const unit = key.endsWith('_mm') ? ' mm' : key.endsWith('_ml') ? ' mL' : key.endsWith('_hu') ? ' HU' : '';
  const name = key.replace(/_(mm|ml|hu)$/, '').replace(/_/g, ' ');
  return `${name} ${typeof value === 'number' ? Number(value.toFixed(1)) : value}${unit}`;
}

export class RoomFindingsPanel {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private data: RoomFindings | null = null;
  private loading: Promise<void> | null = null;
  private again = false;

  constructor(private readonly http: Http, private readonly consultationId: number, private readonly announce: (text: string, kind?: 'error') => void) {
    this.body = h('div', { class: 'room-findings-body' }, h('p', { class: 'muted small' }, 'Loading AI findings…'));
    this.element = h('section', { class: 'room-findings', id: 'room-findings', 'aria-label': 'AI findings' },
      h('h2', { class: 'panel-title' }, 'AI findings'), this.body);
  }

  /** Read the panel again; calls while a read is under way make one more read after it. */
  load(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = roomFindings(this.http, this.consultationId).then((data) => {
      this.data = data;
      this.draw();
    }).catch((error: unknown) => {
      replace(this.body, h('p', { class: 'muted small', role: 'status' }, `AI findings unavailable: ${failureText(error)}`));
    }).finally(() => {
      this.loading = null;
      if (this.again) {
        this.again = false;
        void this.load();
      }
    });
    return this.loading;
  }

  onEvent(event: AnalysisEvent): void {
    if (event.type === 'record.changed') {
      if (['finding', 'analysis', 'report'].includes(event.record)) void this.load();
      return;
    }
    const row = this.element.querySelector<HTMLElement>(`[data-analysis="${event.request_id}"]`);
    if (!row || event.type === 'report.ready' || event.status === 'succeeded' || event.status === 'failed') {
      void this.load();  // a new analysis, or one whose findings are now in
      if (!row) return;
    }
    this.progress(row, event.status, event.step, event.progress);
  }

  private progress(row: HTMLElement, status: string, step: string, value: number): void {
    row.dataset.status = status;
    row.dataset.progress = String(value);
    const bar = row.querySelector('progress');
    if (bar) bar.value = value;
    const text = row.querySelector('.room-analysis-state');
    if (text) text.textContent = `${status} · ${step} · ${value}%`;
  }

  private draw(): void {
    const data = this.data;
    if (!data) return;
    const rows = data.analyses.map((a) => this.analysisRow(a, data.may_decide));
    replace(this.body,
      h('p', { class: 'small muted', id: 'room-findings-notice' }, data.notice),
      data.may_decide ? null : h('p', { class: 'small muted', id: 'room-findings-readonly' }, 'You can see these findings; the care team decides them.'),
      rows.length ? h('ol', { class: 'room-analyses' }, ...rows) : h('p', { class: 'muted small' }, 'No analyses shared.'));
    this.element.dataset.findings = String(data.analyses.reduce((n, a) => n + a.findings.length, 0));
  }

  private analysisRow(analysis: RoomAnalysis, mayDecide: boolean): HTMLElement {
    const bar = h('progress', { max: 100, value: analysis.progress, 'aria-label': `Analysis ${analysis.id} progress` });
    const row = h('li', { class: 'room-analysis', 'data-analysis': String(analysis.id), 'data-status': analysis.status, 'data-progress': String(analysis.progress) },
      h('p', { class: 'small' }, h('strong', null, `Analysis ${analysis.id}`), ' ',
        h('span', { class: 'room-analysis-state' }, `${analysis.status} · ${analysis.step} · ${analysis.progress}%`)),
      bar,
      analysis.findings.length
        ? h('ul', { class: 'room-finding-list' }, ...analysis.findings.map((f) => this.findingRow(f, mayDecide)))
        : h('p', { class: 'muted small' }, 'No findings yet.'));
    return row;
  }

  private findingRow(finding: RoomFinding, mayDecide: boolean): HTMLElement {
    const values = Object.entries(finding.values).map(([k, v]) => findingValueText(k, v)).filter(Boolean).join(', ');
    const model = finding.source === 'clinician' ? 'Entered by a clinician' : `${finding.model_name} v${finding.model_version}`;
    const actions = mayDecide && finding.status === 'proposed'
      ? h('span', { class: 'room-finding-actions' }, ...(['accepted', 'rejected'] as const).map((status) => {
        const button = h('button', { type: 'button', class: 'btn btn-small', 'data-decide': status },
          status === 'accepted' ? 'Accept' : 'Reject');
        button.addEventListener('click', () => {
          button.disabled = true;
          void findingDecide(this.http, finding.id, status).then(() => this.load())
            .catch((error: unknown) => { button.disabled = false; this.announce(failureText(error), 'error'); });
        });
        return button;
      }))
      : null;
    return h('li', { 'data-finding': String(finding.id), 'data-status': finding.status },
      h('span', { class: 'room-finding-label' }, finding.label.replace(/_/g, ' ')),
      values ? h('span', { class: 'small' }, ` (${values})`) : null,
      h('span', { class: 'small muted room-finding-model' }, ` · ${model}`),
      h('span', { class: `room-finding-status status-${finding.status}` }, ` · ${STATUS_TEXT[finding.status] ?? finding.status}`),
      finding.decided_by ? h('span', { class: 'small muted' }, ` by ${finding.decided_by}`) : null,
      actions);
  }
}
