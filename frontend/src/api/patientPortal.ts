/** Calls and types of the patient's own portal: explanations, released results, my record. */

import type { Http } from './http';

export interface Explanation {
  readonly explained: boolean;
  readonly name?: string;
  readonly measures?: string;
  readonly meaning: string;
  readonly next?: string;
  readonly questions?: readonly string[];
  readonly citation?: string;
  readonly guideline_version?: string;
}

export interface ScoreExplanation extends Explanation {
  readonly score: string;
  readonly computable?: boolean;
  readonly value?: number | string | null;
  readonly value_text?: string;
  readonly category?: string | null;
  readonly band?: string | null;
}

export interface FactorExplanation {
  readonly factor: string;
  readonly explained: boolean;
  readonly meaning: string;
  readonly citation?: string;
}

export interface ReportExplained {
  readonly scores: readonly ScoreExplanation[];
  readonly factors: readonly FactorExplanation[];
  readonly topics: readonly { readonly domain: string; readonly about: string }[];
  readonly computer_analysis: string | null;
}

export interface ReleasedReport {
  readonly id: number;
  readonly version: number;
  readonly status: string;
  readonly released_at: string | null;
  readonly signed_at: string | null;
  readonly current: boolean;
  readonly explained: ReportExplained;
}

export interface ScoreHistoryPoint {
  readonly report_id: number;
  readonly version: number;
  readonly date: string;
  readonly value: number | string | null;
  readonly value_text: string | null;
  readonly category: string | null;
  readonly band: string | null;
}

export type LabFlag = 'low' | 'normal' | 'high' | 'unknown';

export interface LabExplained {
  readonly analyte: string;
  readonly code: string;
  readonly value: number;
  readonly unit: string;
  readonly observed_at: string;
  readonly range: { readonly low: number | null; readonly high: number | null; readonly unit: string } | null;
  readonly explanation: Explanation & { readonly flag?: LabFlag };
}

export interface GeneticExplained {
  readonly id: number;
  readonly gene: string;
  readonly rsid: string;
  readonly genotype: string;
  readonly reported_on: string;
  readonly explanation: Explanation & { readonly copies?: number | null; readonly protective?: boolean };
}

export interface PatientResults {
  readonly patient: number;
  readonly reports: readonly ReleasedReport[];
  readonly latest_report: number | null;
  readonly score_history: Readonly<Record<string, readonly ScoreHistoryPoint[]>>;
  readonly labs: readonly LabExplained[];
  readonly genetics: readonly GeneticExplained[];
}

export interface ExplanationCatalogue {
  readonly catalogue_version: string;
  readonly general: { readonly disclaimer: string; readonly urgent: string; readonly computer_analysis: string };
}

export function patientResults(http: Http, patientId: number): Promise<PatientResults> {
  return http.get<PatientResults>(`/patients/${patientId}/results/`);
}

export function explanationCatalogue(http: Http): Promise<ExplanationCatalogue> {
  return http.get<ExplanationCatalogue>('/explanations/');
}

export function patientRecordUrl(http: Http, patientId: number, format: 'fhir' | 'pdf'): string {
  return http.api(`/patients/${patientId}/record/${format}/`);
}

export interface ThreadParticipant {
  readonly user: number;
  readonly username: string;
  readonly role: string;
  readonly last_read_id: number;
}

export interface CareThread {
  readonly id: number;
  readonly patient: number | null;
  readonly participants: readonly ThreadParticipant[];
}

export interface ThreadMessage {
  readonly id: number;
  readonly author: number;
  readonly author_name: string;
  readonly body: string;
  readonly created_at: string;
}

export function careThread(http: Http, patientId: number): Promise<CareThread> {
  return http.get<CareThread>(`/patients/${patientId}/care-thread/`);
}

export function threadMessages(http: Http, threadId: number, after: number): Promise<ThreadMessage[]> {
  return http.get<ThreadMessage[]>(`/threads/${threadId}/messages/`, { after });
}

export function threadSend(http: Http, threadId: number, body: string, clientKey: string): Promise<ThreadMessage> {
  return http.post<ThreadMessage>(`/threads/${threadId}/messages/`, { body, client_key: clientKey });
}

export function threadRead(http: Http, threadId: number, messageId: number): Promise<ThreadParticipant> {
  return http.post<ThreadParticipant>(`/threads/${threadId}/read/`, { message_id: messageId });
}
