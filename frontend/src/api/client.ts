/** Typed calls to the CDSS API. Each function names one endpoint; nothing else builds API paths. */

import type { Http } from './http';
import type {
  Analysis, AnalysisModel, Analyte, ClinicalFinding, FindingDecisionBody, FindingsDecided, GeneticFinding, ImagingFinding,
  ImagingStudy, LifestyleRecord, Me,
  Observation, ObservationCreate, ObservationSeries, Page, Patient, PatientScoresBody, Report, ReportSummary, ScoresResponse,
  SyncReport, UploadReport,
} from './types';
import type { UploadListener } from './upload';

/** Lists arrive paginated ({count, results}) or as plain arrays; callers get an array. */
export function listOf<T>(data: Page<T> | readonly T[] | { results?: readonly T[] }): T[] {
  if (Array.isArray(data)) return [...(data as readonly T[])];
  const results = (data as { results?: readonly T[] }).results;
  return results ? [...results] : [];
}

export class Api {
  readonly http: Http;

  constructor(http: Http) {
    this.http = http;
  }

  me(): Promise<Me> {
    return this.http.get<Me>('/auth/me/');
  }

  patientsSearch(q: string, page = 1, signal?: AbortSignal): Promise<Page<Patient>> {
    return this.http.get<Page<Patient>>('/patients/', { q, page: page > 1 ? page : null }, signal);
  }

  patientGet(patientId: number): Promise<Patient> {
    return this.http.get<Patient>(`/patients/${patientId}/`);
  }

  async analytes(): Promise<Analyte[]> {
    return listOf(await this.http.get<Analyte[]>('/analytes/'));
  }

  /** Every observation (pages of 500 followed, newest first), up to `limit`. */
  async observations(patientId: number, limit = 5000): Promise<Observation[]> {
    const rows: Observation[] = [];
    for (let page = 1; rows.length < limit; page += 1) {
      const data = await this.http.get<Page<Observation>>(`/patients/${patientId}/observations/`, { page_size: 500, page });
      rows.push(...listOf(data));
      if (!data.next) break;
    }
    return rows;
  }

  observationSeries(patientId: number, code: string, unit: string): Promise<ObservationSeries> {
    return this.http.get<ObservationSeries>(`/patients/${patientId}/observations/series/`, { code, unit });
  }

  observationCreate(patientId: number, body: ObservationCreate): Promise<Observation> {
    return this.http.post<Observation>(`/patients/${patientId}/observations/`, body);
  }

  async genetics(patientId: number): Promise<GeneticFinding[]> {
    return listOf(await this.http.get<Page<GeneticFinding> | GeneticFinding[]>(`/patients/${patientId}/genetics/`));
  }

  geneticsCreate(patientId: number, body: Partial<GeneticFinding>): Promise<GeneticFinding> {
    return this.http.post<GeneticFinding>(`/patients/${patientId}/genetics/`, body);
  }

  async lifestyle(patientId: number): Promise<LifestyleRecord[]> {
    return listOf(await this.http.get<Page<LifestyleRecord> | LifestyleRecord[]>(`/patients/${patientId}/lifestyle/`));
  }

  lifestyleCreate(patientId: number, body: Partial<LifestyleRecord>): Promise<LifestyleRecord> {
    return this.http.post<LifestyleRecord>(`/patients/${patientId}/lifestyle/`, body);
  }

  async findings(patientId: number): Promise<ClinicalFinding[]> {
    return listOf(await this.http.get<Page<ClinicalFinding> | ClinicalFinding[]>(`/patients/${patientId}/findings/`));
  }

  findingsCreate(patientId: number, body: Partial<ClinicalFinding>): Promise<ClinicalFinding> {
    return this.http.post<ClinicalFinding>(`/patients/${patientId}/findings/`, body);
  }

  async scores(patientId: number): Promise<ScoresResponse> {
    const body = await this.http.get<PatientScoresBody>(`/patients/${patientId}/scores/`);
    return {
      scores: body.response.scores, modifiers: body.response.modifiers ?? [], inputs_used: body.inputs_used,
      window_days: body.window_days, as_of: body.as_of,
    };
  }

  async studies(patientId: number): Promise<ImagingStudy[]> {
    return listOf(await this.http.get<ImagingStudy[]>(`/patients/${patientId}/imaging/studies/`));
  }

  imagingUpload(patientId: number, files: readonly File[], onProgress?: UploadListener): Promise<UploadReport> {
    const form = new FormData();
    for (const file of files) form.append('files', file, file.name);
    const path = `/patients/${patientId}/imaging/upload/`;
    return onProgress ? this.http.postFormWithProgress<UploadReport>(path, form, onProgress) : this.http.postForm<UploadReport>(path, form);
  }

  imagingSync(patientId: number): Promise<SyncReport> {
    return this.http.post<SyncReport>(`/patients/${patientId}/imaging/sync/`);
  }

  async analysisModels(): Promise<AnalysisModel[]> {
    return listOf(await this.http.get<AnalysisModel[]>('/analyses/models/'));
  }

  async analyses(patientId: number): Promise<Analysis[]> {
    return listOf(await this.http.get<Analysis[]>('/analyses/', { patient: patientId }));
  }

  analysisGet(analysisId: number): Promise<Analysis> {
    return this.http.get<Analysis>(`/analyses/${analysisId}/`);
  }

  analysisCreate(body: { patient: number; series: string[]; models: string[]; idempotency_key: string }): Promise<Analysis> {
    return this.http.post<Analysis>('/analyses/', body);
  }

  async reports(patientId: number): Promise<ReportSummary[]> {
    return listOf(await this.http.get<ReportSummary[]>(`/patients/${patientId}/reports/`));
  }

  reportGet(reportId: number): Promise<Report> {
    return this.http.get<Report>(`/reports/${reportId}/`);
  }

  reportSign(reportId: number, comment: string): Promise<Report> {
    return this.http.post<Report>(`/reports/${reportId}/sign/`, { comment });
  }

  reportAmend(reportId: number, text: string): Promise<Report> {
    return this.http.post<Report>(`/reports/${reportId}/amend/`, { text });
  }

  /** Release the current signed version to the patient (audited; the policy may do it at signing). */
  reportRelease(reportId: number): Promise<Report> {
    return this.http.post<Report>(`/reports/${reportId}/release/`);
  }

  /** The findings of the analysis a report version presents, as decided now. */
  async reportFindings(reportId: number): Promise<ImagingFinding[]> {
    return listOf(await this.http.get<ImagingFinding[]>(`/reports/${reportId}/findings/`));
  }

  async analysisFindings(analysisId: number): Promise<ImagingFinding[]> {
    return listOf(await this.http.get<ImagingFinding[]>(`/analyses/${analysisId}/findings/`));
  }

  /** Accept, edit or reject one finding; the answer names the new draft report version. */
  findingDecide(findingId: number, body: FindingDecisionBody): Promise<FindingsDecided> {
    return this.http.post<FindingsDecided>(`/findings/${findingId}/decide/`, body);
  }

  reportExportUrl(reportId: number, format: 'pdf' | 'fhir' | 'html' | 'dcm'): string {
    return this.http.api(`/reports/${reportId}/export/${format}/`);
  }
}
