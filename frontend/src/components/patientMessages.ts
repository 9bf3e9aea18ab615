/**
 * The conversation between a patient and their care team (the shared message service): the
 * messages, who has read what (read receipts), and a box to write. The same component serves
 * the patient's dashboard and the clinician's patient page. Live: the thread socket says that
 * something changed (ids only) and the messages after the last one shown are read over REST,
 * so a reconnect misses nothing and shows nothing twice.
 */

import type { Api } from '../api/client';
import { ApiError, errorText } from '../api/errors';
import { type CareThread, type ThreadMessage, careThread, threadMessages, threadRead, threadSend } from '../api/patientPortal';
import type { Me } from '../api/types';
import { h, replace, uid } from '../lib/dom';
import { dateTimeFormat } from '../lib/format';
import { stateFor, stateLoading } from './states';

export interface CareMessagesOptions {
  readonly api: Api;
  readonly me: Me;
  readonly wsRoot: string;
  readonly patientId: number;
  readonly announce: (message: string, kind?: 'info' | 'error') => void;
}

function clientKey(): string {
  return typeof crypto.randomUUID === 'function' ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

export class CareMessages {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly options: CareMessagesOptions;
  private thread: CareThread | null = null;
  private messages: ThreadMessage[] = [];
  private socket: WebSocket | null = null;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private fetching: Promise<void> | null = null;
  private again = false;
  private readonly patientSide: boolean;

  constructor(options: CareMessagesOptions) {
    this.options = options;
    this.patientSide = options.me.role === 'patient';
    this.list = h('ol', { class: 'pt-messages', 'aria-label': 'Messages', 'aria-live': 'polite' });
    this.body = h('div', { class: 'pt-section-body' }, stateLoading());
    const title = this.patientSide ? 'Messages with my care team' : 'Messages with the patient';
    this.element = h('section', { class: 'pt-section pt-messages-section', id: 'care-messages', 'aria-labelledby': 'care-messages-title' },
      h('h2', { id: 'care-messages-title' }, title), this.body);
  }

  async start(): Promise<void> {
    try {
      this.thread = await careThread(this.options.api.http, this.options.patientId);
      this.messages = await threadMessages(this.options.api.http, this.thread.id, 0);
    } catch (error) {
      replace(this.body, stateFor(error, 'Messages', () => void this.start()));
      return;
    }
    if (this.stopped) return;
    replace(this.body,
      this.patientSide ? h('p', { class: 'muted' }, 'For questions about your results and care. Not for emergencies: your care team usually answers within two working days.') : null,
      this.list, this.form());
    this.draw();
    void this.markRead();
    this.connect();
  }

  private form(): HTMLFormElement {
    const id = uid('care-message');
    const textarea = h('textarea', { id, name: 'body', rows: 3, maxlength: 10000, required: true, class: 'pt-textarea' });
    const error = h('p', { class: 'field-error', role: 'alert', hidden: true });
    const send = h('button', { type: 'submit', class: 'btn btn-primary', id: 'care-message-send' }, 'Send');
    const form = h('form', { class: 'pt-message-form', novalidate: true },
      h('label', { for: id }, this.patientSide ? 'Write to your care team' : 'Reply to the patient'),
      textarea, error, h('div', null, send));
    let key = clientKey();
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const text = textarea.value.trim();
      if (!text || !this.thread) {
        error.hidden = false;
        error.textContent = 'Write a message first.';
        textarea.focus();
        return;
      }
      error.hidden = true;
      send.disabled = true;
      threadSend(this.options.api.http, this.thread.id, text, key).then(async () => {
        textarea.value = '';
        key = clientKey();  // the same key again (a resend after a lost answer) is harmless
        this.options.announce('Message sent.');
        await this.fetchNew();
      }).catch((failure: unknown) => {
        error.hidden = false;
        error.textContent = failure instanceof ApiError ? errorText(failure) : 'The message could not be sent. Try again.';
      }).finally(() => { send.disabled = false; });
    });
    return form;
  }

  private receipt(message: ThreadMessage): string {
    if (message.author !== this.options.me.id) return '';
    const others = (this.thread?.participants ?? []).filter((p) => p.user !== this.options.me.id);
    const readers = others.filter((p) => p.last_read_id >= message.id);
    if (readers.length === 0) return 'Sent';
    if (this.patientSide) return 'Read by your care team';
    return readers.some((p) => p.role === 'patient') ? 'Read by the patient' : 'Read';
  }

  private draw(): void {
    if (this.messages.length === 0) {
      replace(this.list, h('li', { class: 'pt-message-empty muted' }, 'No messages yet.'));
      return;
    }
    replace(this.list, ...this.messages.map((m) => {
      const mine = m.author === this.options.me.id;
      const receipt = this.receipt(m);
      return h('li', { class: mine ? 'pt-message pt-message-mine' : 'pt-message', 'data-message': String(m.id) },
        h('p', { class: 'pt-message-meta' }, h('strong', null, mine ? 'You' : m.author_name), ' · ',
          h('time', { datetime: m.created_at }, dateTimeFormat(m.created_at))),
        h('p', { class: 'pt-message-body' }, m.body),
        receipt ? h('p', { class: 'pt-receipt', 'data-receipt': receipt }, receipt) : null);
    }));
  }

  private async markRead(): Promise<void> {
    const last = this.messages[this.messages.length - 1];
    const mine = this.thread?.participants.find((p) => p.user === this.options.me.id);
    if (!this.thread || !last || (mine && mine.last_read_id >= last.id)) return;
    try {
      await threadRead(this.options.api.http, this.thread.id, last.id);
    } catch {
      // A receipt that did not go through is sent again with the next message shown.
    }
  }

  /** New messages after the last one shown, and the participants' receipts. A change that
   *  arrives while a read is in flight is read again after it: never answered by the older read. */
  private fetchNew(): Promise<void> {
    if (this.fetching) {
      this.again = true;
      return this.fetching;
    }
    this.fetching = (async () => {
      do {
        this.again = false;
        await this.fetchOnce();
      } while (this.again && !this.stopped);
    })().catch(() => undefined).finally(() => { this.fetching = null; });
    return this.fetching;
  }

  private async fetchOnce(): Promise<void> {
    if (!this.thread) return;
    const after = this.messages[this.messages.length - 1]?.id ?? 0;
    const [rows, thread] = await Promise.all([
      threadMessages(this.options.api.http, this.thread.id, after), careThread(this.options.api.http, this.options.patientId),
    ]);
    if (this.stopped) return;
    const known = new Set(this.messages.map((m) => m.id));
    this.messages.push(...rows.filter((m) => !known.has(m.id)));
    this.thread = thread;
    this.draw();
    await this.markRead();
  }

  private connect(): void {
    if (this.stopped || !this.thread) return;
    const socket = new WebSocket(`${this.options.wsRoot}/threads/${this.thread.id}/`);
    this.socket = socket;
    socket.addEventListener('message', () => void this.fetchNew());
    socket.addEventListener('open', () => void this.fetchNew());
    socket.addEventListener('close', (event) => {
      if (this.socket !== socket || this.stopped || event.code === 4401 || event.code === 4404) return;
      this.retry = setTimeout(() => this.connect(), 5000);
    });
  }

  destroy(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    const socket = this.socket;
    this.socket = null;
    socket?.close();
  }
}
