/**
 * Realtime events pushed on /ws/patients/{id}/ (inference/events.py owns the server side).
 * They are notifications carrying ids, status and progress only; details come over REST.
 * A discriminated union on `type`; anything unknown or malformed parses to null.
 */

import type { StepCount } from '../lib/progress';

export type AnalysisStatus = 'queued' | 'running' | 'succeeded' | 'failed';

/** The state of one analysis as events carry it. */
export interface AnalysisState {
  readonly requestId: number;
  readonly status: AnalysisStatus;
  readonly step: string | null;
  readonly progress: number;
  readonly errorCode: string | null;
  readonly reportId: number | null;
}

export interface StateSnapshotEvent {
  readonly type: 'state.snapshot';
  readonly patientId: number;
  /** Recent analyses, so a page that (re)connects shows progress at once. */
  readonly analyses: readonly AnalysisState[];
}

export interface AnalysisStatusEvent {
  readonly type: 'analysis.status';
  readonly requestId: number;
  readonly patientId: number | null;
  readonly status: AnalysisStatus;
  readonly step: string | null;
  readonly progress: number;
  readonly errorCode: string | null;
  readonly reportId: number | null;
}

export interface AnalysisProgressEvent {
  readonly type: 'analysis.progress';
  readonly requestId: number;
  readonly patientId: number | null;
  readonly status: AnalysisStatus | null;
  readonly step: string | null;
  /** 0..100 */
  readonly progress: number;
  /** The step's own count (slices of a volume, images fetched), when it reports one. */
  readonly count: StepCount | null;
}

export interface ReportReadyEvent {
  readonly type: 'report.ready';
  readonly reportId: number;
  readonly requestId: number | null;
  readonly patientId: number | null;
}

export interface RecordChangedEvent {
  readonly type: 'record.changed';
  readonly patientId: number | null;
  /** What changed, e.g. "observation", "genetics", "lifestyle", "finding", "study". */
  readonly record: string | null;
  /** What happened to it: "created", "updated", "deleted", "signed", "amended". */
  readonly action: string | null;
  /** The records concerned (the server sends `ids`); `recordId` is the first of them. */
  readonly recordIds: readonly number[];
  readonly recordId: number | null;
}

export type RealtimeEvent =
  | StateSnapshotEvent
  | AnalysisStatusEvent
  | AnalysisProgressEvent
  | ReportReadyEvent
  | RecordChangedEvent;

export type RealtimeEventType = RealtimeEvent['type'];

const STATUSES: readonly AnalysisStatus[] = ['queued', 'running', 'succeeded', 'failed'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function intOrNull(value: unknown): number | null {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
  return null;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function statusOrNull(value: unknown): AnalysisStatus | null {
  return typeof value === 'string' && (STATUSES as readonly string[]).includes(value)
    ? (value as AnalysisStatus)
    : null;
}

function progressOf(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return 0;
  return Math.min(100, Math.max(0, value));
}

// A count event without a unit comes from the image fetch, which counts instances.
function stepCountOf(raw: Record<string, unknown>, step: string | null): StepCount | null {
  const done = intOrNull(raw.k);
  const total = intOrNull(raw.n);
  if (done === null || total === null || total <= 0 || done > total) return null;
  const eta = raw.eta_s;
  return {
    step,
    unit: stringOrNull(raw.unit) ?? 'images',
    done,
    total,
    etaS: typeof eta === 'number' && Number.isFinite(eta) && eta >= 0 ? eta : null,
  };
}

/** The analysis id: the server calls it request_id; analysis_id is accepted as an alias. */
function requestIdOf(raw: Record<string, unknown>): number | null {
  return intOrNull(raw.request_id) ?? intOrNull(raw.analysis_id);
}

function analysisStateParse(raw: unknown): AnalysisState | null {
  if (!isRecord(raw)) return null;
  const requestId = requestIdOf(raw);
  const status = statusOrNull(raw.status);
  if (requestId === null || status === null) return null;
  return {
    requestId, status, step: stringOrNull(raw.step), progress: progressOf(raw.progress),
    errorCode: stringOrNull(raw.error_code), reportId: intOrNull(raw.report_id),
  };
}

export function eventParse(raw: unknown): RealtimeEvent | null {
  let value = raw;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return null;
    }
  }
  if (!isRecord(value)) return null;
  const patientId = intOrNull(value.patient_id);
  switch (value.type) {
    case 'state.snapshot': {
      if (patientId === null) return null;
      const analyses = Array.isArray(value.analyses)
        ? value.analyses.map(analysisStateParse).filter((a): a is AnalysisState => a !== null)
        : [];
      return { type: 'state.snapshot', patientId, analyses };
    }
    case 'analysis.status': {
      const requestId = requestIdOf(value);
      const status = statusOrNull(value.status);
      if (requestId === null || status === null) return null;
      return {
        type: 'analysis.status',
        requestId,
        patientId,
        status,
        step: stringOrNull(value.step),
        progress: progressOf(value.progress),
        errorCode: stringOrNull(value.error_code),
        reportId: intOrNull(value.report_id),
      };
    }
    case 'analysis.progress': {
      const requestId = requestIdOf(value);
      if (requestId === null) return null;
      const step = stringOrNull(value.step);
      return {
        type: 'analysis.progress',
        requestId,
        patientId,
        status: statusOrNull(value.status),
        step,
        progress: progressOf(value.progress),
        count: stepCountOf(value, step),
      };
    }
    case 'report.ready': {
      const reportId = intOrNull(value.report_id);
      if (reportId === null) return null;
      return { type: 'report.ready', reportId, requestId: requestIdOf(value), patientId };
    }
    case 'record.changed': {
      const ids = Array.isArray(value.ids) ? value.ids.map(intOrNull).filter((id): id is number => id !== null) : [];
      return {
        type: 'record.changed',
        patientId,
        record: stringOrNull(value.record),
        action: stringOrNull(value.action),
        recordIds: ids,
        recordId: ids[0] ?? null,
      };
    }
    default:
      return null;
  }
}

/** Exhaustiveness helper for switches over RealtimeEvent['type']. */
export function eventUnreachable(event: never): never {
  throw new Error(`unhandled realtime event ${JSON.stringify(event)}`);
}
