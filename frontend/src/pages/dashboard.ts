/**
 * The patient's own dashboard, phone first: released reports explained, scores over time,
 * blood tests against the usual range with their history in a unit the patient picks, genetic
 * results in words, and "download my record". What is released is decided by the API
 * (GET /patients/{id}/results/); this page shows what it is given.
 */

import type { AppContext, Page } from '../app';
import { ApiError } from '../api/errors';
import { type ExplanationCatalogue, type PatientResults, explanationCatalogue, patientRecordUrl, patientResults } from '../api/patientPortal';
import type { Analyte, Observation, Patient } from '../api/types';
import { analytesOrdered } from '../components/labs';
import { labsRender } from '../components/patientLabs';
import { CareMessages } from '../components/patientMessages';
import { geneticsRender, reportsRender, scoreHistoryRender } from '../components/patientResults';
import { stateError, stateLoading } from '../components/states';
import { h, replace } from '../lib/dom';
import { dateFormat, personName } from '../lib/format';
import { PatientChannel } from '../realtime/socket';

interface DashboardData {
  readonly patient: Patient;
  readonly results: PatientResults;
  readonly catalogue: ExplanationCatalogue;
  readonly analytes: readonly Analyte[];
  readonly observations: readonly Observation[];
}

function section(id: string, title: string, ...children: (HTMLElement | null)[]): { element: HTMLElement; body: HTMLElement } {
  const body = h('div', { class: 'pt-section-body' }, ...children);
  const element = h('section', { class: 'pt-section', id, 'aria-labelledby': `${id}-title` },
    h('h2', { id: `${id}-title` }, title), body);
  return { element, body };
}

function downloads(ctx: AppContext, patientId: number): HTMLElement {
  const http = ctx.api.http;
  return h('div', { class: 'pt-downloads' },
    h('p', null, 'Save or share your record. Each download is recorded in your record\'s access log.'),
    h('div', { class: 'pt-download-buttons' },
      h('a', { class: 'btn btn-primary', id: 'download-pdf', href: patientRecordUrl(http, patientId, 'pdf'), download: '' }, 'Summary to read or print (PDF)'),
      h('a', { class: 'btn', id: 'download-fhir', href: patientRecordUrl(http, patientId, 'fhir'), download: '' }, 'Health record file (FHIR)'),
    ),
    h('p', { class: 'muted small' }, 'The FHIR file is a standard format that other health apps and hospitals can read.'));
}

function render(ctx: AppContext, data: DashboardData, root: HTMLElement, messages: CareMessages): void {
  const { patient, results, catalogue } = data;
  const reports = section('pt-reports', 'My latest results');
  reportsRender(results, reports.body);
  const scores = section('pt-scores', 'My risk scores over time');
  scoreHistoryRender(results, scores.body);
  const labs = section('pt-labs', 'My blood tests');
  labsRender(results, labs.body, { api: ctx.api, patientId: patient.id, analytes: data.analytes, observations: data.observations });
  const genes = section('pt-genetics', 'My genetic test results');
  geneticsRender(results, genes.body);
  const record = section('pt-record', 'Download my record', downloads(ctx, patient.id));
  replace(root,
    h('div', { class: 'pt-head' },
      h('h1', null, 'My dashboard'),
      h('p', { class: 'pt-who' }, personName(patient.given_name, patient.family_name), h('span', { class: 'muted' }, ` · born ${dateFormat(patient.birth_date)}`)),
      h('p', { class: 'pt-intro' }, catalogue.general.disclaimer),
      h('p', { class: 'pt-urgent', role: 'note' }, catalogue.general.urgent),
    ),
    h('div', { class: 'pt-grid' },
      h('div', { class: 'pt-col' }, reports.element, messages.element, scores.element),
      h('div', { class: 'pt-col' }, labs.element, genes.element, record.element),
    ),
  );
}

export async function dashboardPage(ctx: AppContext): Promise<Page> {
  const patientId = ctx.me.patient_id;
  if (patientId === null) {
    return {
      element: h('div', { class: 'pt-page' }, h('h1', null, 'My dashboard'), h('p', null, 'Your account is not linked to a patient record. Please ask your care team.')),
      title: 'My dashboard', destroy: () => undefined,
    };
  }
  const root = h('div', { class: 'pt-page', 'data-patient': String(patientId) }, stateLoading('Loading your results…'));
  let destroyed = false;
  let messagesStarted = false;
  const messages = new CareMessages({ api: ctx.api, me: ctx.me, wsRoot: ctx.config.wsRoot, patientId, announce: ctx.announce });
  const load = async (): Promise<void> => {
    try {
      const [patient, results, catalogue, analytes, observations] = await Promise.all([
        ctx.api.patientGet(patientId), patientResults(ctx.api.http, patientId), explanationCatalogue(ctx.api.http),
        ctx.api.analytes(), ctx.api.observations(patientId),
      ]);
      if (destroyed) return;
      render(ctx, { patient, results, catalogue, analytes: analytesOrdered(analytes), observations }, root, messages);
      if (!messagesStarted) {
        messagesStarted = true;
        void messages.start();
      }
    } catch (error) {
      if (destroyed) return;
      const retry = (): void => { replace(root, stateLoading('Loading your results…')); void load(); };
      replace(root, h('h1', null, 'My dashboard'),
        error instanceof ApiError && error.isNotFound ? h('p', null, 'Your record could not be found. Please ask your care team.') : stateError(error, retry));
    }
  };
  await load();
  // A report released, or a result added, while the page is open shows without a reload; the
  // socket sends a patient only events about their own released results (inference/consumers.py).
  let reloading: Promise<void> | null = null;
  let again = false;
  const reload = (): void => {
    if (reloading) {
      again = true;  // a change during a read is read again after it
      return;
    }
    reloading = (async () => {
      do {
        again = false;
        await load();
      } while (again && !destroyed);
    })().finally(() => { reloading = null; });
  };
  const channel = new PatientChannel(ctx.config.wsRoot, patientId, ctx.config.realtime, {
    onEvent: (event) => {
      if (event.type === 'record.changed' || event.type === 'report.ready') reload();
    },
    onResync: reload,
  });
  channel.start();
  return {
    element: root, title: 'My dashboard',
    destroy: () => { destroyed = true; channel.stop(); messages.destroy(); },
  };
}
