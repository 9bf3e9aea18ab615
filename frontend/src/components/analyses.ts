/**
 * Analyses and reports of a patient: start an analysis (series + models), follow its progress
 * live from the WebSocket, show the report when it is ready, and offer retry on failure.
 */

import type { Api } from '../api/client';
import { ApiError, errorText } from '../api/errors';
import type { Analysis, AnalysisModel, ImagingStudy, ReportSummary } from '../api/types';
import { h, replace } from '../lib/dom';
import { dateTimeFormat } from '../lib/format';
import { type StepCount, stepCountText } from '../lib/progress';
import { routeHref } from '../lib/routes';
import type { RealtimeEvent } from '../realtime/events';
import { dialogCreate } from './dialog';
import { formError, formShowErrors } from './form';
import { stateEmpty, stateFor, stateLoading } from './states';

const STEP_TEXT: Readonly<Record<string, string>> = {
  queued: 'Queued', fetching: 'Fetching images', model: 'Running model', scoring: 'Scoring',
  fusing: 'Combining results', report: 'Writing report', done: 'Done', failed: 'Failed',
};

function idempotencyKey(): string {
  return typeof crypto.randomUUID === 'function' ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

interface LiveState {
  status: Analysis['status'];
  step: string;
  progress: number;
  errorCode: string | null;
  reportId: number | null;
  /** The running step's own count, kept while that step runs. */
  count: StepCount | null;
}

/** A count belongs to its step: a new step (or the end) drops it. */
function countKept(previous: LiveState | undefined, step: string, status: Analysis['status']): StepCount | null {
  if (!previous?.count || status !== 'running') return null;
  return previous.count.step === null || previous.count.step === step ? previous.count : null;
}

export class AnalysesPanel {
  readonly element: HTMLElement;
  private readonly api: Api;
  private readonly patientId: number;
  private readonly canAnalyse: boolean;
  private readonly announce: (text: string, kind?: 'info' | 'error') => void;
  private readonly analysesArea: HTMLElement;
  private readonly reportsArea: HTMLElement;
  private analyses: Analysis[] = [];
  private readonly live = new Map<number, LiveState>();
  private studies: () => readonly ImagingStudy[];
  private onReportReady: (reportId: number) => void;

  constructor(options: {
    api: Api; patientId: number; canAnalyse: boolean; announce: (text: string, kind?: 'info' | 'error') => void;
    studies: () => readonly ImagingStudy[]; onReportReady?: (reportId: number) => void;
  }) {
    this.api = options.api;
    this.patientId = options.patientId;
    this.canAnalyse = options.canAnalyse;
    this.announce = options.announce;
    this.studies = options.studies;
    this.onReportReady = options.onReportReady ?? (() => undefined);
    const analyse = this.canAnalyse ? h('button', { type: 'button', class: 'btn btn-primary btn-small', id: 'analyse-open' }, 'Analyse…') : null;
    analyse?.addEventListener('click', () => void this.openDialog());
    this.analysesArea = h('div', { class: 'analyses', 'aria-live': 'polite' });
    this.reportsArea = h('div', { class: 'reports' });
    this.element = h('section', { class: 'card', id: 'card-reports', 'aria-labelledby': 'card-reports-title' },
      h('header', { class: 'card-head' }, h('h2', { id: 'card-reports-title' }, 'Analyses and reports'), analyse ? h('div', { class: 'card-actions' }, analyse) : null),
      h('div', { class: 'card-body' }, h('h3', { class: 'sub' }, 'Analyses'), this.analysesArea, h('h3', { class: 'sub' }, 'Report history'), this.reportsArea),
    );
  }

  async reload(): Promise<void> {
    await Promise.all([this.loadAnalyses(), this.loadReports()]);
  }

  private async loadAnalyses(): Promise<void> {
    if (this.analyses.length === 0) replace(this.analysesArea, stateLoading());
    try {
      this.analyses = await this.api.analyses(this.patientId);
      for (const analysis of this.analyses) {
        const step = analysis.current_step || analysis.status;
        this.live.set(analysis.id, {
          status: analysis.status, step, progress: analysis.progress,
          errorCode: analysis.error_code || null, reportId: analysis.report_id,
          count: countKept(this.live.get(analysis.id), step, analysis.status),
        });
      }
      this.drawAnalyses();
    } catch (error) {
      replace(this.analysesArea, stateFor(error, 'Image and risk analysis', () => void this.loadAnalyses()));
    }
  }

  private async loadReports(): Promise<void> {
    replace(this.reportsArea, stateLoading());
    try {
      const reports = await this.api.reports(this.patientId);
      this.drawReports(reports);
    } catch (error) {
      replace(this.reportsArea, stateFor(error, 'Report history', () => void this.loadReports()));
    }
  }

  private drawReports(reports: readonly ReportSummary[]): void {
    if (reports.length === 0) {
      replace(this.reportsArea, stateEmpty('No reports yet.'));
      return;
    }
    replace(this.reportsArea, h('ul', { class: 'report-list' }, ...reports.map((r) => h('li', { 'data-report': String(r.id) },
      h('a', { href: routeHref({ name: 'report', reportId: r.id }) }, `Report v${r.version}`),
      ' ', h('span', { class: `badge badge-${r.status}` }, r.signed_at ? 'signed' : r.status),
      ' ', reportCurrency(r, reports),
      h('span', { class: 'muted report-people' }, [
        ` · ${dateTimeFormat(r.created_at)}`,
        r.requested_by_name ? ` · requested by ${r.requested_by_name}` : '',
        r.signed_by_name && r.signed_at ? ` · signed by ${r.signed_by_name}, ${dateTimeFormat(r.signed_at)}` : '',
      ].join(''))))));
  }

  private drawAnalyses(): void {
    const recent = this.analyses.slice(0, 5);
    if (recent.length === 0) {
      replace(this.analysesArea, stateEmpty(this.canAnalyse ? 'No analyses yet. Use “Analyse…” to run one.' : 'No analyses yet.'));
      return;
    }
    replace(this.analysesArea, h('ul', { class: 'analysis-list' }, ...recent.map((analysis) => this.analysisItem(analysis))));
  }

  private analysisItem(analysis: Analysis): HTMLElement {
    const state = this.live.get(analysis.id);
    const status = state?.status ?? analysis.status;
    const progress = state?.progress ?? analysis.progress;
    const step = state?.step ?? analysis.current_step;
    const item = h('li', { class: `analysis analysis-${status}`, 'data-analysis': String(analysis.id), 'data-status': status },
      h('div', { class: 'analysis-head' },
        h('strong', null, `Analysis #${analysis.id}`),
        h('span', { class: 'muted' }, ` · ${analysis.model_keys.join(', ') || 'risk only'} · ${dateTimeFormat(analysis.created_at)}`)),
    );
    if (status === 'queued' || status === 'running') {
      const count = state?.count ?? null;
      const label = `${STEP_TEXT[step] ?? step ?? 'Working'}${count ? `: ${stepCountText(count)}` : ''} (${Math.round(progress)}%)`;
      item.appendChild(h('div', { class: 'progress-row' },
        h('progress', { max: 100, value: Math.round(progress), 'aria-label': `Analysis ${analysis.id} progress` }),
        count ? h('progress', { class: 'step-progress', max: count.total, value: count.done, 'aria-label': `Analysis ${analysis.id}, this step` }) : null,
        h('span', { class: 'progress-text' }, label)));
    } else if (status === 'failed') {
      const retry = this.canAnalyse ? h('button', { type: 'button', class: 'btn btn-small' }, 'Retry') : null;
      retry?.addEventListener('click', () => void this.start(analysis.series_uids, analysis.model_keys));
      item.appendChild(h('div', { class: 'analysis-error', role: 'alert' },
        h('p', null, 'Failed: ', analysis.error_message || state?.errorCode || analysis.error_code || 'unknown error'), retry));
    } else {
      const reportId = state?.reportId ?? analysis.report_id;
      item.appendChild(reportId
        ? h('p', null, 'Done · ', h('a', { href: routeHref({ name: 'report', reportId }), class: 'report-ready-link' }, 'open the report'))
        : h('p', null, 'Done.'));
    }
    return item;
  }

  /** Realtime: update progress in place; refetch details over REST on status changes. */
  handle(event: RealtimeEvent): void {
    switch (event.type) {
      case 'analysis.progress':
      case 'analysis.status': {
        const known = this.analyses.find((a) => a.id === event.requestId);
        const previous = this.live.get(event.requestId);
        const status = event.status ?? previous?.status ?? 'running';
        const step = event.step ?? previous?.step ?? status;
        this.live.set(event.requestId, {
          status,
          step,
          progress: event.progress,
          count: event.type === 'analysis.progress' && event.count && status === 'running' ? event.count : countKept(previous, step, status),
          errorCode: event.type === 'analysis.status' ? event.errorCode : previous?.errorCode ?? null,
          reportId: event.type === 'analysis.status' ? event.reportId : previous?.reportId ?? null,
        });
        if (!known || status !== known.status) {
          void this.loadAnalyses();
          if (status === 'failed' && previous?.status !== 'failed') this.announce(`Analysis #${event.requestId} failed.`, 'error');
        } else {
          this.drawAnalyses();
        }
        break;
      }
      case 'report.ready':
        this.announce('A new report is ready.');
        void this.reload();
        this.onReportReady(event.reportId);
        break;
      case 'state.snapshot': {
        let changed = false;
        for (const state of event.analyses) {
          const known = this.analyses.find((a) => a.id === state.requestId);
          const step = state.step ?? state.status;
          this.live.set(state.requestId, {
            status: state.status, step, progress: state.progress, errorCode: state.errorCode, reportId: state.reportId,
            count: countKept(this.live.get(state.requestId), step, state.status),
          });
          if (!known || known.status !== state.status) changed = true;
        }
        if (changed) void this.loadAnalyses();
        else if (event.analyses.length) this.drawAnalyses();
        break;
      }
      case 'record.changed':
        break;
    }
  }

  private async start(series: readonly string[], models: readonly string[]): Promise<Analysis | null> {
    try {
      const analysis = await this.api.analysisCreate({
        patient: this.patientId, series: [...series], models: [...models], idempotency_key: idempotencyKey(),
      });
      this.announce(`Analysis #${analysis.id} started.`);
      await this.loadAnalyses();
      return analysis;
    } catch (error) {
      this.announce(error instanceof ApiError ? errorText(error) : 'The analysis could not be started.', 'error');
      throw error;
    }
  }

  private async openDialog(): Promise<void> {
    const dialog = dialogCreate('Analyse');
    dialog.body.appendChild(stateLoading());
    dialog.open();
    let models: AnalysisModel[];
    try {
      models = await this.api.analysisModels();
    } catch (error) {
      replace(dialog.body, stateFor(error, 'Image and risk analysis'));
      return;
    }
    const series = this.studies().flatMap((study) => (study.series ?? []).map((s) => ({ study, series: s })));
    const seriesBoxes = series.map(({ study, series: s }) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: 'series', value: s.series_instance_uid, 'data-modality': s.modality }),
      ` ${s.modality} · ${s.description || 'series'} `, h('span', { class: 'muted' }, study.description || study.study_instance_uid)));
    const modelBoxes = models.map((m) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: 'models', value: m.key, 'data-modalities': m.modalities.join(',') }),
      ` ${m.description} `, h('span', { class: 'muted' }, `(${m.modalities.join(', ') || 'no images'})`)));
    const form = h('form', { class: 'form', novalidate: true },
      formError(),
      h('fieldset', { class: 'fieldset' }, h('legend', null, 'Series'),
        seriesBoxes.length ? seriesBoxes : h('p', { class: 'muted' }, 'No imaging series linked; the analysis will use the record only.')),
      h('fieldset', { class: 'fieldset' }, h('legend', null, 'Models'), modelBoxes.length ? modelBoxes : h('p', { class: 'muted' }, 'No imaging models available.')),
      h('p', { class: 'hint' }, 'Risk scores from the record are always included. Progress appears on this page; the report opens when ready.'),
      h('div', { class: 'form-actions' },
        h('button', { type: 'submit', class: 'btn btn-primary' }, 'Start analysis'),
        h('button', { type: 'button', class: 'btn', onclick: (() => dialog.close()) as EventListener }, 'Cancel')),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const chosenSeries = [...form.querySelectorAll<HTMLInputElement>('input[name=series]:checked')].map((i) => i.value);
      const chosenModels = [...form.querySelectorAll<HTMLInputElement>('input[name=models]:checked')].map((i) => i.value);
      const needImages = [...form.querySelectorAll<HTMLInputElement>('input[name=models]:checked')].some((i) => (i.dataset.modalities ?? '') !== '');
      if (needImages && !chosenSeries.length) {
        formShowErrors(form, { fields: {}, general: 'Pick at least one series for the imaging models.' });
        return;
      }
      const submit = form.querySelector<HTMLButtonElement>('button[type=submit]');
      if (submit) submit.disabled = true;
      this.start(chosenSeries, chosenModels).then(() => dialog.close()).catch((error: unknown) => {
        if (submit) submit.disabled = false;
        formShowErrors(form, { fields: {}, general: error instanceof ApiError ? errorText(error) : 'Could not start.' });
      });
    });
    replace(dialog.body, form);
    form.querySelector<HTMLInputElement>('input')?.focus();
  }
}

/** "current", or which version replaced this one (an amendment or a later run). */
/** Where a version stands: a draft (beside the signed one, never displacing it), the current
 * signed version, or a signed version a newer signed one replaced. */
export function reportCurrency(report: ReportSummary, all: readonly ReportSummary[]): HTMLElement {
  if (report.status === 'draft') {
    const pending = report.findings_pending ?? 0;
    return h('span', { class: 'badge badge-draft', 'data-currency': 'draft' },
      pending ? `draft · ${pending} finding(s) to review` : 'draft');
  }
  if (report.current ?? report.latest) {
    return h('span', { class: 'badge badge-current', 'data-currency': 'current' }, report.released_at ? 'current · released' : 'current');
  }
  const replacement = all.find((other) => other.id === report.superseded_by);
  const verb = report.status === 'amended' ? 'amended by' : 'superseded by';
  const text = replacement ? `${verb} v${replacement.version}` : `${verb} a later report`;
  return h('span', { class: 'badge badge-superseded', 'data-currency': 'superseded' }, text);
}
