/** Consultations, threads and the room over REST: typed calls on the app's Http. */

import { ApiError, errorText } from '../api/errors';
import type { Http } from '../api/http';

export type Urgency = 'routine' | 'urgent' | 'emergency';
export type ConsultationState = 'requested' | 'open' | 'declined' | 'closed' | 'expired';

export interface Opinion {
  readonly id: number;
  readonly consultation: number;
  readonly patient: number;
  readonly author: number;
  readonly author_name: string;
  readonly answer: string;
  readonly recommendations: readonly string[];
  readonly urgency: Urgency;
  readonly signed_at: string;
  readonly content_sha256: string;
}

export interface Consultation {
  readonly id: number;
  readonly patient: number;
  readonly patient_label: string;
  readonly question: string;
  readonly urgency: Urgency;
  readonly state: ConsultationState;
  readonly requested_by: number;
  readonly requested_by_name: string;
  readonly consultant: number | null;
  readonly consultant_name: string;
  readonly consultant_group: number | null;
  readonly consultant_group_name: string;
  readonly scope: 'record' | 'studies';
  readonly identifiable: boolean;
  readonly expires_at: string;
  readonly opened_at: string;
  readonly thread: number | null;
  readonly opinion: Opinion | null;
}

export interface ConsultationRequestBody {
  readonly patient: number;
  readonly question: string;
  readonly urgency: Urgency;
  readonly consultant?: number | null;
  readonly consultant_group?: number | null;
  readonly scope: 'record' | 'studies';
  readonly study_uids?: readonly string[];
  readonly expires_at: string;
  readonly identifiable: boolean;
}

export interface Directory {
  readonly consultants: readonly { readonly id: number; readonly name: string }[];
  readonly groups: readonly { readonly id: number; readonly name: string }[];
}

export interface RoomSeries {
  readonly id: number;
  readonly study_uid: string;
  readonly series_uid: string;
  readonly modality: string;
  readonly description: string;
  /** De-identified share, pixels that may show burned-in identifying text: not shown. */
  readonly pixels_withheld: boolean;
}

export interface RoomInfo {
  readonly consultation: number;
  readonly patient: number;
  readonly thread: number;
  readonly me: number;
  readonly presenter: number;
  readonly websocket: string;
  readonly ice_servers: RTCIceServer[];
  readonly series: readonly RoomSeries[];
}

export interface Attachment {
  readonly kind: 'key_image' | 'study' | 'series' | 'report' | 'opinion';
  readonly ref: string;
  readonly label?: string;
}

export interface Message {
  readonly id: number;
  readonly thread: number;
  readonly author: number;
  readonly author_name: string;
  readonly parent: number | null;
  readonly body: string;
  readonly attachments: readonly Attachment[];
  readonly client_key: string;
  readonly created_at: string;
}

export class ConsultApi {
  constructor(private readonly http: Http) {}

  list(patientId?: number): Promise<Consultation[]> {
    return this.http.get('/consultations/', patientId ? { patient: patientId } : undefined);
  }
  get(id: number): Promise<Consultation> {
    return this.http.get(`/consultations/${id}/`);
  }
  request(body: ConsultationRequestBody): Promise<Consultation> {
    return this.http.post('/consultations/', body);
  }
  act(id: number, action: 'accept' | 'decline' | 'close'): Promise<Consultation> {
    return this.http.post(`/consultations/${id}/${action}/`);
  }
  directory(): Promise<Directory> {
    return this.http.get('/consultants/');
  }
  room(id: number): Promise<RoomInfo> {
    return this.http.get(`/consultations/${id}/room/`);
  }
  opinionSign(id: number, body: { answer: string; recommendations: string[]; urgency: Urgency }): Promise<Opinion> {
    return this.http.post(`/consultations/${id}/opinion/`, body);
  }
  opinions(patientId: number): Promise<Opinion[]> {
    return this.http.get(`/patients/${patientId}/opinions/`);
  }
  messages(threadId: number, after: number): Promise<Message[]> {
    return this.http.get(`/threads/${threadId}/messages/`, { after });
  }
  send(threadId: number, body: { body: string; client_key: string; parent?: number | null; attachments?: Attachment[] }): Promise<Message> {
    return this.http.post(`/threads/${threadId}/messages/`, body);
  }
  markRead(threadId: number, messageId: number): Promise<unknown> {
    return this.http.post(`/threads/${threadId}/read/`, { message_id: messageId });
  }
}

export function urgencyLabel(urgency: Urgency): string {
  return urgency === 'emergency' ? 'Emergency' : urgency === 'urgent' ? 'Urgent' : 'Routine';
}

export function clientKey(): string {
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

export function failureText(error: unknown): string {
  return error instanceof ApiError ? errorText(error) : 'Something went wrong. Try again.';
}

export type FindingStatus = 'proposed' | 'accepted' | 'edited' | 'rejected';

export interface RoomFinding {
  readonly id: number;
  readonly kind: string;
  readonly label: string;
  readonly status: FindingStatus;
  readonly source: string;
  readonly counts: boolean;
  readonly model_key: string;
  readonly model_name: string;
  readonly model_version: string;
  readonly values: Readonly<Record<string, number | string | null>>;
  readonly series_uid: string;
  readonly decided_by: string | null;
  readonly decided_at: string | null;
  readonly reason: string;
}

export interface RoomAnalysis {
  readonly id: number;
  readonly status: string;
  readonly step: string;
  readonly progress: number;
  readonly created_at: string;
  readonly report_id: number | null;
  readonly findings: readonly RoomFinding[];
}

export interface RoomFindings {
  readonly may_decide: boolean;
  readonly notice: string;
  readonly analyses: readonly RoomAnalysis[];
}

export function roomFindings(http: Http, consultationId: number): Promise<RoomFindings> {
  return http.get(`/consultations/${consultationId}/room/findings/`);
}

export function findingDecide(http: Http, findingId: number, status: 'accepted' | 'rejected'): Promise<unknown> {
  return http.post(`/findings/${findingId}/decide/`, { status });
}
