import { describe, expect, it } from 'vitest';
import { backoffDelay, closeIsFinal } from './backoff';
import { eventParse } from './events';

describe('eventParse', () => {
  it('parses the snapshot the consumer sends on connect', () => {
    expect(eventParse('{"type":"state.snapshot","patient_id":7}')).toEqual({ type: 'state.snapshot', patientId: 7, analyses: [] });
    const withAnalyses = eventParse({
      type: 'state.snapshot', patient_id: 7,
      analyses: [{ request_id: 4, status: 'running', step: 'model', progress: 30, error_code: null, report_id: null }, { junk: 1 }],
    });
    expect(withAnalyses).toEqual({
      type: 'state.snapshot', patientId: 7,
      analyses: [{ requestId: 4, status: 'running', step: 'model', progress: 30, errorCode: null, reportId: null }],
    });
  });

  it('parses analysis progress with the server field names', () => {
    const event = eventParse({
      type: 'analysis.progress', request_id: 3, patient_id: 7, status: 'running', step: 'model',
      progress: 42, error_code: null, report_id: null,
    });
    expect(event).toEqual({
      type: 'analysis.progress', requestId: 3, patientId: 7, status: 'running', step: 'model', progress: 42, count: null,
    });
  });

  it('parses a step\'s own count and time left', () => {
    const event = eventParse({
      type: 'analysis.progress', request_id: 3, status: 'running', step: 'running model', progress: 10,
      step_key: 'imaging:1', k: 48, n: 150, unit: 'slices', eta_s: 19.5,
    });
    expect(event?.type === 'analysis.progress' && event.count).toEqual({
      step: 'running model', unit: 'slices', done: 48, total: 150, etaS: 19.5,
    });
  });

  it('counts images when the fetch sends no unit, and ignores a count beyond its total', () => {
    const fetch = eventParse({ type: 'analysis.progress', request_id: 3, step: 'fetching images', k: 11, n: 20 });
    expect(fetch?.type === 'analysis.progress' && fetch.count).toMatchObject({ unit: 'images', done: 11, total: 20, etaS: null });
    const odd = eventParse({ type: 'analysis.progress', request_id: 3, k: 30, n: 20, eta_s: -1 });
    expect(odd?.type === 'analysis.progress' && odd.count).toBeNull();
  });

  it('clamps progress into 0..100', () => {
    const event = eventParse({ type: 'analysis.progress', request_id: 1, progress: 140 });
    expect(event?.type === 'analysis.progress' && event.progress).toBe(100);
  });

  it('parses a failed status with its error code', () => {
    const event = eventParse({ type: 'analysis.status', request_id: 9, status: 'failed', error_code: 'pacs_unavailable' });
    expect(event).toMatchObject({ type: 'analysis.status', requestId: 9, status: 'failed', errorCode: 'pacs_unavailable' });
  });

  it('rejects a status it does not know', () => {
    expect(eventParse({ type: 'analysis.status', request_id: 9, status: 'exploded' })).toBeNull();
  });

  it('parses report.ready and needs a report id', () => {
    expect(eventParse({ type: 'report.ready', report_id: 5, request_id: 3 })).toEqual({
      type: 'report.ready', reportId: 5, requestId: 3, patientId: null,
    });
    expect(eventParse({ type: 'report.ready' })).toBeNull();
  });

  it('parses record.changed in the one shape the server sends', () => {
    expect(eventParse({ type: 'record.changed', patient_id: 2, record: 'observation', action: 'created', ids: [11, 12] })).toEqual({
      type: 'record.changed', patientId: 2, record: 'observation', action: 'created', recordIds: [11, 12], recordId: 11,
    });
    expect(eventParse({ type: 'record.changed', patient_id: 2, record: 'report', action: 'amended', ids: [9, 'x', 8] })).toMatchObject({
      record: 'report', action: 'amended', recordIds: [9, 8], recordId: 9,
    });
    expect(eventParse({ type: 'record.changed', patient_id: 2 })).toMatchObject({ record: null, recordIds: [], recordId: null });
  });

  it('returns null for junk, unknown types and bad JSON', () => {
    expect(eventParse('not json')).toBeNull();
    expect(eventParse(null)).toBeNull();
    expect(eventParse([1, 2])).toBeNull();
    expect(eventParse({ type: 'chat.message' })).toBeNull();
    expect(eventParse({ type: 'state.snapshot' })).toBeNull();
  });
});

describe('backoff', () => {
  const policy = { initialMs: 500, maxMs: 15_000 };

  it('grows exponentially and stays within [ceiling/2, ceiling]', () => {
    expect(backoffDelay(policy, 0, 0)).toBe(250);
    expect(backoffDelay(policy, 0, 0.999)).toBeLessThanOrEqual(500);
    expect(backoffDelay(policy, 3, 0)).toBe(2000);
  });

  it('is capped', () => {
    expect(backoffDelay(policy, 30, 0.999)).toBeLessThanOrEqual(15_000);
    expect(backoffDelay(policy, 30, 0)).toBe(7500);
  });

  it('does not reconnect after "not found" or "unauthenticated" closes', () => {
    expect(closeIsFinal(4404)).toBe(true);
    expect(closeIsFinal(4401)).toBe(true);
    expect(closeIsFinal(1006)).toBe(false);
    expect(closeIsFinal(1011)).toBe(false);
  });
});
