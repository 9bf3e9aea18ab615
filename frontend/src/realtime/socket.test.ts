import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RealtimeEvent } from './events';
import { type ConnectionState, PatientChannel } from './socket';

class FakeSocket {
  static made: FakeSocket[] = [];
  onopen: (() => void) | null = null;
  onclose: ((event: { code: number }) => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  closed: number | null = null;
  constructor(readonly url: string) {
    FakeSocket.made.push(this);
  }
  close(code: number): void {
    this.closed = code;
  }
}

const listeners = new Map<string, () => void>();

beforeEach(() => {
  FakeSocket.made = [];
  listeners.clear();
  vi.useFakeTimers();
  vi.stubGlobal('window', {
    addEventListener: (name: string, fn: () => void) => listeners.set(name, fn),
    removeEventListener: (name: string) => listeners.delete(name),
  });
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

function channel(): { events: RealtimeEvent[]; states: ConnectionState[]; resyncs: number[]; start: () => PatientChannel } {
  const events: RealtimeEvent[] = [];
  const states: ConnectionState[] = [];
  const resyncs: number[] = [];
  const start = (): PatientChannel => {
    const c = new PatientChannel('ws://h/ws', 7, { initialBackoffMs: 100, maxBackoffMs: 1000 }, {
      onEvent: (e) => events.push(e), onResync: () => resyncs.push(1), onState: (s) => states.push(s),
    }, (url) => new FakeSocket(url) as unknown as WebSocket);
    c.start();
    return c;
  };
  return { events, states, resyncs, start };
}

describe('PatientChannel', () => {
  it('connects to the patient group, parses events, and resyncs only after a reconnect', () => {
    const t = channel();
    t.start();
    const first = FakeSocket.made[0] as FakeSocket;
    expect(first.url).toBe('ws://h/ws/patients/7/');
    first.onopen?.();
    first.onmessage?.({ data: '{"type":"record.changed","patient_id":7,"record":"observation"}' });
    first.onmessage?.({ data: 'garbage' });
    expect(t.events.map((e) => e.type)).toEqual(['record.changed']);
    expect(t.resyncs).toHaveLength(0);
    first.onclose?.({ code: 1006 });
    expect(t.states.at(-1)).toBe('offline');
    vi.advanceTimersByTime(1000);
    const second = FakeSocket.made[1] as FakeSocket;
    second.onopen?.();
    expect(t.states.at(-1)).toBe('live');
    expect(t.resyncs).toHaveLength(1);
  });

  it('gives up on "not found" and stops cleanly', () => {
    const t = channel();
    const c = t.start();
    (FakeSocket.made[0] as FakeSocket).onclose?.({ code: 4404 });
    vi.advanceTimersByTime(5000);
    expect(FakeSocket.made).toHaveLength(1);
    expect(t.states.at(-1)).toBe('closed');
    c.stop();
  });

  it('drops the socket when the browser goes offline and reconnects when it is back', () => {
    const t = channel();
    t.start();
    const first = FakeSocket.made[0] as FakeSocket;
    first.onopen?.();
    listeners.get('offline')?.();
    expect(first.closed).toBe(4000);
    expect(t.states.at(-1)).toBe('offline');
    listeners.get('online')?.();
    const second = FakeSocket.made.at(-1) as FakeSocket;
    second.onopen?.();
    expect(t.resyncs).toHaveLength(1);
  });
});
