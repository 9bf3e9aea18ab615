/**
 * The patient page (clinicians, consultants) and the patient's own dashboard (plain language,
 * read only). Cards load independently; writes and realtime `record.changed` events refresh
 * the cards they affect without a reload; after a reconnect everything is re-fetched.
 */

import { type AppContext, type Page, canEdit } from '../app';
import { ApiError } from '../api/errors';
import type { ClinicalFinding, ImagingStudy, LifestyleRecord, Patient, ScoresResponse } from '../api/types';
import { AnalysesPanel } from '../components/analyses';
import { Card } from '../components/card';
import { lungNodulesCard } from '../components/lungNodules';
import { CareMessages } from '../components/patientMessages';
import { type LabData, LabStore, labFormOpen, labPanelRender, observationsByAnalyte } from '../components/labs';
import { findingsFormOpen, findingsLatest, findingsRender, geneticsFormOpen, geneticsRender, lifestyleFormOpen, lifestyleLatest, lifestyleRender } from '../components/records';
import { scoresRender } from '../components/scores';
import { stateError } from '../components/states';
import { imagingActions, studiesRender } from '../components/studies';
import { TrendChart } from '../components/trend';
import { h, replace } from '../lib/dom';
import { ageYears, dateFormat, personName } from '../lib/format';
import { rangeFlag } from '../lib/units';
import type { Route } from '../lib/routes';
import { type RealtimeEvent } from '../realtime/events';
import { type ConnectionState, PatientChannel } from '../realtime/socket';
import { consultPanel } from './consultPanel';

export function notFoundElement(): HTMLElement {
  return h('div', { class: 'not-found', 'data-state': 'not-found' },
    h('h1', null, 'Not found'),
    h('p', null, 'This record does not exist, or it is not shared with you.'),
    h('p', null, h('a', { href: '/' }, 'Back to the start')));
}

function flagsOf(patient: Patient, findings: readonly ClinicalFinding[] | null, lifestyle: readonly LifestyleRecord[] | null, outOfRange: number): HTMLElement[] {
  const flags: HTMLElement[] = [];
  const add = (text: string, kind: 'warn' | 'info' | 'alert'): void => { flags.push(h('li', { class: `flag-chip flag-${kind}` }, text)); };
  if (patient.status !== 'active') add(patient.status, 'info');
  if (findings) {
    const latest = findingsLatest(findings);
    if (latest.known_cirrhosis?.value === true) add('Cirrhosis', 'alert');
    if (latest.hbv_status?.value === 'chronic') add('Chronic HBV', 'warn');
    if (latest.hcv_status?.value === 'chronic') add('Chronic HCV', 'warn');
    if (latest.ascites?.value && latest.ascites.value !== 'none') add('Ascites', 'warn');
    if (latest.encephalopathy?.value && latest.encephalopathy.value !== 'none') add('Encephalopathy', 'warn');
  }
  if (lifestyle) {
    const latest = lifestyleLatest(lifestyle);
    const alcohol = latest.alcohol_g_per_day?.value;
    if (typeof alcohol === 'number' && alcohol >= 30) add('Alcohol ≥ 30 g/day', 'warn');
    if (latest.diabetes?.value === 'type_2' || latest.diabetes?.value === 'type_1') add('Diabetes', 'info');
    const bmi = latest.bmi?.value;
    if (typeof bmi === 'number' && bmi >= 30) add('BMI ≥ 30', 'info');
    if (latest.smoking_status?.value === 'current') add('Smoker', 'info');
  }
  if (outOfRange > 0) add(`${outOfRange} result${outOfRange === 1 ? '' : 's'} out of range`, 'warn');
  return flags;
}

export async function patientPage(ctx: AppContext, route: Route): Promise<Page> {
  if (route.name !== 'patient') throw new Error('wrong route');
  return patientView(ctx, route.patientId, false);
}

export async function dashboardPage(ctx: AppContext): Promise<Page> {
  if (ctx.me.patient_id === null) {
    return { element: h('div', null, h('h1', null, 'My dashboard'), h('p', null, 'Your account is not linked to a patient record. Ask your care team.')), title: 'My dashboard', destroy: () => undefined };
  }
  return patientView(ctx, ctx.me.patient_id, true);
}

async function patientView(ctx: AppContext, patientId: number, self: boolean): Promise<Page> {
  let patient: Patient;
  try {
    patient = await ctx.api.patientGet(patientId);
  } catch (error) {
    if (error instanceof ApiError && (error.isNotFound || error.status === 403)) {
      return { element: notFoundElement(), title: 'Not found', destroy: () => undefined };
    }
    return { element: stateError(error), title: 'Error', destroy: () => undefined };
  }
  const editable = !self && canEdit(ctx.me);
  const plain = self;
  const labs = new LabStore(ctx.api, patientId);
  const trend = new TrendChart(ctx.api, patientId, { plain });
  let findingsCache: ClinicalFinding[] | null = null;
  let lifestyleCache: LifestyleRecord[] | null = null;
  let studiesCache: ImagingStudy[] = [];
  let outOfRange = 0;

  const flagList = h('ul', { class: 'flags', 'aria-label': 'Flags' });
  const redrawFlags = (): void => replace(flagList, ...flagsOf(patient, findingsCache, lifestyleCache, outOfRange));

  const addButton = (text: string, id: string, open: () => Promise<boolean>, after: () => Promise<void>): HTMLElement | null => {
    if (!editable) return null;
    const button = h('button', { type: 'button', class: 'btn btn-small', id }, text);
    button.addEventListener('click', () => {
      void open().then(async (saved) => {
        if (saved) {
          ctx.announce('Saved.');
          await after();
        }
        button.focus();
      });
    });
    return button;
  };

  const refreshLabsAndScores = async (): Promise<void> => {
    await Promise.all([labCard.reload(true), scoreCard.reload(true)]);
  };

  const labCard: Card<LabData> = new Card<LabData>({
    id: 'card-labs', title: plain ? 'Your liver tests' : 'Liver panel', what: 'Laboratory results',
    load: () => labs.load(),
    render: (data, body) => {
      labPanelRender(data, body, { plain });
      outOfRange = 0;
      for (const list of observationsByAnalyte(data).values()) {
        const latest = list[0];
        if (!latest) continue;
        const analyte = data.analytes.find((a) => a.code === latest.code);
        const flag = latest.reference_low != null || latest.reference_high != null
          ? rangeFlag(latest.value, { low: latest.reference_low ?? null, high: latest.reference_high ?? null })
          : rangeFlag(latest.value_canonical, analyte?.reference_range ?? null);
        if (flag === 'high' || flag === 'low') outOfRange += 1;
      }
      redrawFlags();
      for (const row of body.querySelectorAll<HTMLElement>('tr[data-analyte]')) {
        row.addEventListener('click', () => {
          trend.show(row.dataset.analyte ?? '');
          document.getElementById('card-trend')?.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
        });
      }
    },
    actions: [addButton('Add result', 'add-lab', () => labFormOpen(ctx.api, labs, patientId), refreshLabsAndScores)].filter((b): b is HTMLElement => b !== null),
  });
  const unsubscribe = labs.subscribe((data) => trend.update(data));
  const trendCard = h('section', { class: 'card card-wide', id: 'card-trend', 'aria-labelledby': 'card-trend-title' },
    h('header', { class: 'card-head' }, h('h2', { id: 'card-trend-title' }, plain ? 'How your results changed' : 'Trends')),
    h('div', { class: 'card-body' }, trend.element));

  const scoreCard = new Card<ScoresResponse>({
    id: 'card-scores', title: plain ? 'Your risk scores' : 'Scores', what: 'Scores from the record',
    load: () => ctx.api.scores(patientId),
    render: (data, body) => scoresRender(data, body, { plain, groups: plain ? ['liver', 'cancer'] : undefined }),
  });
  const geneticsCard = new Card({
    id: 'card-genetics', title: 'Genetics', what: 'Genetic findings',
    load: () => ctx.api.genetics(patientId),
    render: geneticsRender,
    actions: [addButton('Add', 'add-genetics', () => geneticsFormOpen((body) => ctx.api.geneticsCreate(patientId, body)), async () => {
      await Promise.all([geneticsCard.reload(true), scoreCard.reload(true)]);
    })].filter((b): b is HTMLElement => b !== null),
  });
  const lifestyleCard = new Card({
    id: 'card-lifestyle', title: 'Lifestyle', what: 'Lifestyle records',
    load: () => ctx.api.lifestyle(patientId),
    render: (rows, body) => { lifestyleCache = rows; redrawFlags(); lifestyleRender(rows, body); },
    actions: [addButton('Record', 'add-lifestyle', () => lifestyleFormOpen((body) => ctx.api.lifestyleCreate(patientId, body)), async () => {
      await Promise.all([lifestyleCard.reload(true), scoreCard.reload(true)]);
    })].filter((b): b is HTMLElement => b !== null),
  });
  const findingsCard = new Card({
    id: 'card-findings', title: plain ? 'Examination findings' : 'Clinical findings', what: 'Clinical findings',
    load: () => ctx.api.findings(patientId),
    render: (rows, body) => { findingsCache = rows; redrawFlags(); findingsRender(rows, body); },
    actions: [addButton('Record', 'add-findings', () => findingsFormOpen((body) => ctx.api.findingsCreate(patientId, body)), async () => {
      await Promise.all([findingsCard.reload(true), scoreCard.reload(true)]);
    })].filter((b): b is HTMLElement => b !== null),
  });
  const studiesCard: Card<ImagingStudy[]> = new Card<ImagingStudy[]>({
    id: 'card-imaging', title: plain ? 'Your scans' : 'Imaging', what: 'Imaging studies', className: 'card-wide',
    load: () => ctx.api.studies(patientId),
    render: (studies, body) => { studiesCache = studies; studiesRender(studies, body, { dicomwebRoot: ctx.config.viewer.dicomwebRoot, patientId }); },
    actions: editable ? imagingActions({ api: ctx.api, patientId, announce: ctx.announce, after: (): Promise<void> => studiesCard.reload(true) }) : [],
  });
  const analyses = new AnalysesPanel({
    api: ctx.api, patientId, canAnalyse: editable, announce: ctx.announce, studies: () => studiesCache,
  });
  // The care team answers the patient's messages here (the patient writes from their dashboard).
  const careMessages = !self && ctx.me.role === 'clinician'
    ? new CareMessages({ api: ctx.api, me: ctx.me, wsRoot: ctx.config.wsRoot, patientId, announce: ctx.announce })
    : null;
  const consultCard = self || ctx.me.role === 'patient' ? null : consultPanel(ctx, patientId, { canRequest: editable, studies: () => studiesCache });

  const connection = h('span', { class: 'connection', 'data-state': 'connecting', title: 'Live updates' }, 'connecting…');
  const setConnection = (state: ConnectionState): void => {
    connection.dataset.state = state;
    connection.textContent = state === 'live' ? 'live' : state === 'offline' ? 'offline – reconnecting' : state === 'closed' ? 'not live' : 'connecting…';
  };

  const cardsByRecord: Record<string, () => Promise<void>> = {
    observation: refreshLabsAndScores,
    genetics: () => Promise.all([geneticsCard.reload(true), scoreCard.reload(true)]).then(() => undefined),
    genetic_finding: () => Promise.all([geneticsCard.reload(true), scoreCard.reload(true)]).then(() => undefined),
    lifestyle: () => Promise.all([lifestyleCard.reload(true), scoreCard.reload(true)]).then(() => undefined),
    finding: () => Promise.all([findingsCard.reload(true), scoreCard.reload(true)]).then(() => undefined),
    lifestyle_record: () => Promise.all([lifestyleCard.reload(true), scoreCard.reload(true)]).then(() => undefined),
    report: () => analyses.reload(),
    clinical_finding: () => Promise.all([findingsCard.reload(true), scoreCard.reload(true)]).then(() => undefined),
    study: () => studiesCard.reload(true),
    imaging_study: () => studiesCard.reload(true),
    consult_opinion: () => consultCard?.reload(true) ?? Promise.resolve(),
    patient: async () => { patient = await ctx.api.patientGet(patientId); redrawFlags(); },
  };
  const reloadAll = async (quiet: boolean): Promise<void> => {
    await Promise.all([
      labCard.reload(quiet), scoreCard.reload(quiet), geneticsCard.reload(quiet), lifestyleCard.reload(quiet),
      findingsCard.reload(quiet), studiesCard.reload(quiet), analyses.reload(), consultCard?.reload(quiet),
    ]);
  };

  const onEvent = (event: RealtimeEvent): void => {
    switch (event.type) {
      case 'record.changed': {
        const refresh = event.record ? cardsByRecord[event.record] : undefined;
        void (refresh ? refresh() : reloadAll(true));
        break;
      }
      case 'analysis.progress':
      case 'analysis.status':
      case 'report.ready':
      case 'state.snapshot':
        analyses.handle(event);
        break;
    }
  };
  const channel = new PatientChannel(ctx.config.wsRoot, patientId, ctx.config.realtime, {
    onEvent, onResync: () => void reloadAll(true), onState: setConnection,
  });

  const age = ageYears(patient.birth_date);
  const header = h('div', { class: 'patient-head' },
    h('div', null,
      h('h1', { id: 'patient-name' }, self ? 'My dashboard' : personName(patient.given_name, patient.family_name)),
      h('p', { class: 'demographics' },
        self ? h('span', null, personName(patient.given_name, patient.family_name)) : null,
        h('span', null, h('span', { class: 'muted' }, 'MRN '), h('span', { class: 'mono' }, patient.mrn)),
        h('span', null, h('span', { class: 'muted' }, 'Born '), dateFormat(patient.birth_date), age !== null ? ` (${age} y)` : ''),
        h('span', null, h('span', { class: 'muted' }, 'Sex '), patient.sex),
      ),
      flagList,
    ),
    h('div', { class: 'patient-actions' }, connection),
  );
  const intro = plain
    ? h('p', { class: 'intro' }, 'These are your results and what they mean. Your care team reviews them with you; talk to them before changing any treatment.')
    : null;

  const element = h('div', { class: 'patient-page', 'data-patient': String(patientId) },
    header, intro,
    h('div', { class: 'grid' },
      labCard.element, scoreCard.element, trendCard,
      studiesCard.element,
      geneticsCard.element, lifestyleCard.element, findingsCard.element,
      self ? null : lungNodulesCard(ctx.api, patientId).element,
      analyses.element,
      consultCard?.element,
      careMessages?.element ?? null,
    ),
  );
  redrawFlags();
  void reloadAll(false);
  channel.start();
  void careMessages?.start();
  return {
    element,
    title: self ? 'My dashboard' : `${patient.family_name.toUpperCase()}, ${patient.given_name}`,
    destroy() {
      channel.stop();
      careMessages?.destroy();
      unsubscribe();
      trend.destroy();
      for (const card of [labCard, scoreCard, geneticsCard, lifestyleCard, findingsCard, studiesCard]) card.destroy();
      consultCard?.destroy();
    },
  };
}
