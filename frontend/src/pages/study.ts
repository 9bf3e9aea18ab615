/** The study page: patient context and the Cornerstone3D viewer (its own chunk, loaded here). */

import { type AppContext, type Page, canEdit } from '../app';
import { ApiError } from '../api/errors';
import type { AnalysisModel, ImagingFinding, ImagingStudy, Patient } from '../api/types';
import { FindingReview } from '../components/findingReview';
import { stateError, stateLoading } from '../components/states';
import { h, replace } from '../lib/dom';
import { dateFormat, personName } from '../lib/format';
import { aiFindingsFromReport } from '../lib/report';
import { type Route, routeHref } from '../lib/routes';
import type { AiSeriesFindings } from '../viewer/aiFindings';
import type { AiHeatmap } from '../viewer/heatmap';
import type { AiReviewState } from '../viewer/segColours';
import { studyPrefetchTake } from '../viewer/prefetch';
import type { ViewerHandle } from '../viewer/viewer';
import { notFoundElement } from './patient';

export async function studyPage(ctx: AppContext, route: Route): Promise<Page> {
  if (route.name !== 'study') throw new Error('wrong route');
  // The images are what the reader waits for: their first reads and the viewer's code (a large
  // chunk) start now, side by side with the patient's record, not after it.
  const prefetch = studyPrefetchTake(ctx.config.viewer.dicomwebRoot, route.studyUid, route.seriesUid);
  const viewerCode = import('../viewer/viewer');
  viewerCode.catch(() => undefined); // reported where it is awaited, below
  const studiesRead = route.patientId === null ? null : ctx.api.studies(route.patientId);
  studiesRead?.catch(() => undefined);
  let patient: Patient | null = null;
  if (route.patientId !== null) {
    try {
      patient = await ctx.api.patientGet(route.patientId);
    } catch (error) {
      if (error instanceof ApiError && error.isNotFound) return { element: notFoundElement(), title: 'Not found', destroy: () => undefined };
    }
  }
  let study: ImagingStudy | null = null;
  if (patient !== null && studiesRead !== null) {
    try {
      study = (await studiesRead).find((s) => s.study_instance_uid === route.studyUid) ?? null;
    } catch {
      study = null; // the viewer still opens; only the heading falls back to the UID
    }
  }
  const host = h('div', { class: 'viewer-host' }, stateLoading('Loading the viewer…'));
  const back = patient
    ? h('a', { href: ctx.me.role === 'patient' ? routeHref({ name: 'dashboard' }) : routeHref({ name: 'patient', patientId: patient.id }) }, `← ${personName(patient.given_name, patient.family_name)}`)
    : h('a', { href: '/' }, '← Back');
  const element = h('div', { class: 'study-page' },
    h('div', { class: 'page-head compact' }, h('p', { class: 'crumb' }, back),
      h('h1', { class: 'study-title', id: 'study-title' }, studyHeading(study)),
      patient ? h('p', { class: 'study-patient small', id: 'study-patient' }, patientLine(patient, study)) : null,
      h('p', { class: 'muted mono small', title: 'StudyInstanceUID' }, `Study ${route.studyUid}`)),
    host);
  const patientId = patient?.id ?? null;
  let catalogue: Promise<Map<string, CatalogueModel>> | null = null;
  /** The models' cards as the API lists them (display name, limitations), read once. */
  const models = (): Promise<Map<string, CatalogueModel>> => {
    catalogue ??= ctx.api.analysisModels()
      .then((list) => new Map(list.map((m) => [m.key, m as CatalogueModel])))
      .catch(() => new Map<string, CatalogueModel>());
    return catalogue;
  };
  /** The latest finished analysis of this series that has a report, read as AI findings and heatmaps. */
  const aiFindings = async (seriesUid: string): Promise<AiSeriesFindings> => {
    if (patientId === null) return { blocks: [] };
    const analyses = await ctx.api.analyses(patientId);
    const latest = analyses.find((a) => a.status === 'succeeded' && a.report_id !== null && a.series_uids.includes(seriesUid));
    if (!latest || latest.report_id === null) return { blocks: [] };
    const [report, known] = await Promise.all([ctx.api.reportGet(latest.report_id), models()]);
    const label = `Report v${report.version}`;
    const entries = seriesFindings(report.content, seriesUid);
    const blocks = aiFindingsFromReport(report.content, seriesUid, label)
      .map((block, index) => ({ ...block, title: `${label} · ${modelDisplayName(entries[index]?.model, known)}` }));
    return { blocks, heatmaps: entries.flatMap((entry) => entryHeatmaps(entry, known)) };
  };
  /** The review of the same analysis's findings of this series (a clinician decides). */
  const aiFindingsReview = async (seriesUid: string, onReview: (state: AiReviewState) => void): Promise<FindingReview | null> => {
    if (patientId === null) return null;
    const analyses = await ctx.api.analyses(patientId);
    const latest = analyses.find((a) => a.status === 'succeeded' && a.report_id !== null && a.series_uids.includes(seriesUid));
    if (!latest || latest.report_id === null) return null;
    const reportId = latest.report_id;
    const readState = (): void => {
      void ctx.api.reportFindings(reportId).then((found) => onReview(reviewState(found, seriesUid))).catch(() => undefined);
    };
    if (ctx.me.role === 'patient') {
      readState();
      return null;
    }
    const review = new FindingReview({
      api: ctx.api, reportId, seriesUid, canDecide: canEdit(ctx.me), announce: ctx.announce, draftLink: true,
      onDecided: (result) => onReview(reviewState(result.findings, seriesUid)),
    });
    await review.load();
    readState();
    return review;
  };
  let handle: ViewerHandle | null = null;
  let destroyed = false;
  void viewerCode.then(async ({ viewerMount }) => {
    if (destroyed) return;
    replace(host);
    handle = await viewerMount(host, {
      config: ctx.config.viewer,
      studyUid: route.studyUid,
      seriesUid: route.seriesUid,
      instanceUid: route.instanceUid ?? null,
      prefetch,
      announce: ctx.announce,
      aiFindings: patientId === null ? undefined : aiFindings,
      aiFindingsReview: patientId === null ? undefined : aiFindingsReview,
      onSeriesChange: (seriesUid) => {
        history.replaceState(null, '', routeHref({ ...route, seriesUid, instanceUid: null }));
      },
    });
    if (destroyed) handle.destroy();
  }).catch((error: unknown) => {
    console.error(error);
    replace(host, stateError(error));
  });
  return {
    element,
    title: studyHeading(study),
    destroy() {
      destroyed = true;
      handle?.destroy();
      handle = null;
    },
  };
}

/** What a reader looks for first: the study's description and date, not its UID. */
function studyHeading(study: ImagingStudy | null): string {
  if (study === null) return 'Imaging study';
  const what = study.description || study.modalities.split(',').filter((m) => m !== 'SEG').join(', ') || 'Imaging study';
  return study.study_date ? `${what} · ${dateFormat(study.study_date)}` : what;
}

/** The patient's identifiers beside the images (a de-identified share shows its pseudonym). */
function patientLine(patient: Patient, study: ImagingStudy | null): string {
  const parts = [personName(patient.given_name, patient.family_name)];
  if (patient.mrn) parts.push(`MRN ${patient.mrn}`);
  if (patient.birth_date) parts.push(`born ${dateFormat(patient.birth_date)}`);
  if (patient.sex && patient.sex !== 'unknown') parts.push(patient.sex);
  if (study?.accession_number) parts.push(`accession ${study.accession_number}`);
  return parts.join(' · ');
}

/** A model as the analysis catalogue lists it; name, version and limitations where the API gives them. */
type CatalogueModel = AnalysisModel & { readonly name?: string; readonly version?: string; readonly limitations?: readonly string[] };

interface SeriesFinding {
  readonly model: Record<string, unknown> | undefined;
  readonly findings: Record<string, unknown>;
}

const record = (value: unknown): Record<string, unknown> => (value && typeof value === 'object' && !Array.isArray(value) ? value as Record<string, unknown> : {});

/** The report's imaging findings of one series, in the order aiFindingsFromReport reads them. */
function seriesFindings(content: unknown, seriesUid: string): SeriesFinding[] {
  const list = record(content).imaging_findings;
  return (Array.isArray(list) ? list : []).map(record).filter((f) => f.series_uid === seriesUid)
    .map((f) => ({ model: record(f.model), findings: record(f.findings) }));
}

/** "Liver and liver-lesion CT segmentation (2D U-Net++) 1.1.0": the card's name and the version that ran. */
function modelDisplayName(model: Record<string, unknown> | undefined, known: ReadonlyMap<string, CatalogueModel>): string {
  const key = typeof model?.key === 'string' ? model.key : '';
  const card = known.get(key);
  const name = (typeof model?.name === 'string' && model.name) || card?.name || card?.description || key || 'AI model';
  const version = typeof model?.version === 'string' || typeof model?.version === 'number' ? String(model.version) : '';
  return version ? `${name} ${version}` : name;
}

/** The classifier heatmaps of one step's predictions, matched to their images by SOP Instance UID. */
function entryHeatmaps(entry: SeriesFinding, known: ReadonlyMap<string, CatalogueModel>): AiHeatmap[] {
  const key = typeof entry.model?.key === 'string' ? entry.model.key : '';
  const caveat = known.get(key)?.limitations?.find((text) => /grad-?cam|heatmap/i.test(text)) ?? '';
  const predictions = entry.findings.predictions;
  return (Array.isArray(predictions) ? predictions : []).map(record).flatMap((p) => {
    const ref = p.heatmap_ref;
    const sop = p.sop_instance_uid;
    if (typeof ref !== 'string' || !ref.startsWith('data:image/') || typeof sop !== 'string') return [];
    const label = typeof p.label === 'string' ? p.label.replace(/_/g, ' ') : 'prediction';
    return [{
      sopUid: sop, dataUrl: ref, label: label.charAt(0).toUpperCase() + label.slice(1),
      probability: typeof p.probability === 'number' ? p.probability : null,
      model: modelDisplayName(entry.model, known), caveat,
    }];
  });
}

/** Where the clinician stands on a series's AI findings (it colours and labels the overlays). */
function reviewState(findings: readonly ImagingFinding[], seriesUid: string): AiReviewState {
  const mine = findings.filter((f) => f.source === 'model' && f.series_uid === seriesUid);
  if (mine.length === 0 || mine.some((f) => f.status === 'proposed')) return 'proposed';
  if (mine.some((f) => f.kind === 'segmentation' && f.status === 'rejected')) return 'rejected';
  return 'verified';
}
