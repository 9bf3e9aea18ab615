/** The study page: patient context and the Cornerstone3D viewer (its own chunk, loaded here). */

import { type AppContext, type Page, canEdit } from '../app';
import { ApiError } from '../api/errors';
import type { ImagingStudy, Patient } from '../api/types';
import { FindingReview } from '../components/findingReview';
import { stateError, stateLoading } from '../components/states';
import { h, replace } from '../lib/dom';
import { dateFormat, personName } from '../lib/format';
import { type AiFindingsBlock, aiFindingsFromReport } from '../lib/report';
import { type Route, routeHref } from '../lib/routes';
import type { ViewerHandle } from '../viewer/viewer';
import { notFoundElement } from './patient';

export async function studyPage(ctx: AppContext, route: Route): Promise<Page> {
  if (route.name !== 'study') throw new Error('wrong route');
  let patient: Patient | null = null;
  if (route.patientId !== null) {
    try {
      patient = await ctx.api.patientGet(route.patientId);
    } catch (error) {
      if (error instanceof ApiError && error.isNotFound) return { element: notFoundElement(), title: 'Not found', destroy: () => undefined };
    }
  }
  let study: ImagingStudy | null = null;
  if (patient !== null) {
    try {
      study = (await ctx.api.studies(patient.id)).find((s) => s.study_instance_uid === route.studyUid) ?? null;
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
  /** The latest finished analysis of this series that has a report, read as AI findings. */
  const aiFindings = async (seriesUid: string): Promise<AiFindingsBlock[]> => {
    if (patientId === null) return [];
    const analyses = await ctx.api.analyses(patientId);
    const latest = analyses.find((a) => a.status === 'succeeded' && a.report_id !== null && a.series_uids.includes(seriesUid));
    if (!latest || latest.report_id === null) return [];
    const report = await ctx.api.reportGet(latest.report_id);
    return aiFindingsFromReport(report.content, seriesUid, `Report v${report.version}`);
  };
  /** The review of the same analysis's findings of this series (a clinician decides). */
  const aiFindingsReview = async (seriesUid: string): Promise<FindingReview | null> => {
    if (patientId === null || ctx.me.role === 'patient') return null;
    const analyses = await ctx.api.analyses(patientId);
    const latest = analyses.find((a) => a.status === 'succeeded' && a.report_id !== null && a.series_uids.includes(seriesUid));
    if (!latest || latest.report_id === null) return null;
    const review = new FindingReview({
      api: ctx.api, reportId: latest.report_id, seriesUid, canDecide: canEdit(ctx.me), announce: ctx.announce, draftLink: true,
    });
    await review.load();
    return review;
  };
  let handle: ViewerHandle | null = null;
  let destroyed = false;
  void import('../viewer/viewer').then(async ({ viewerMount }) => {
    if (destroyed) return;
    replace(host);
    handle = await viewerMount(host, {
      config: ctx.config.viewer,
      studyUid: route.studyUid,
      seriesUid: route.seriesUid,
      instanceUid: route.instanceUid ?? null,
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
