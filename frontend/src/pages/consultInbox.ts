/**
 * The consultations inbox (/consultations): a consultant's requests to accept or decline and
 * open consultations to enter; a clinician's own requests. Live: the inbox socket says which
 * consultation changed (ids and status only) and the list is fetched again.
 */

import type { AppContext, Page } from '../app';
import { stateEmpty, stateError, stateLoading } from '../components/states';
import { h, replace } from '../lib/dom';
import { dateTimeFormat } from '../lib/format';
import { ConsultApi, type Consultation, failureText, urgencyLabel } from './consultApi';

const STATE_LABEL: Readonly<Record<string, string>> = {
  requested: 'Waiting for an answer', open: 'Open', declined: 'Declined', closed: 'Closed', expired: 'Expired',
};

/** One consultation as a list row, with the actions this user may take on it. */
export function consultRow(ctx: AppContext, consultation: Consultation, after: () => void): HTMLElement {
  const api = new ConsultApi(ctx.api.http);
  const act = (action: 'accept' | 'decline' | 'close', label: string): HTMLButtonElement => {
    const button = h('button', { type: 'button', class: 'btn btn-small', 'data-action': action }, label);
    button.addEventListener('click', () => {
      button.disabled = true;
      void api.act(consultation.id, action).then((updated) => {
        ctx.announce(`Consultation ${STATE_LABEL[updated.state]?.toLowerCase() ?? updated.state}.`);
        if (action === 'accept') ctx.navigate(`/consultations/${consultation.id}`);
        else after();
      }).catch((error: unknown) => {
        button.disabled = false;
        ctx.announce(failureText(error), 'error');
      });
    });
    return button;
  };
  const mine = consultation.consultant === ctx.me.id || (consultation.consultant === null && ctx.me.role === 'consultant');
  const actions: HTMLElement[] = [];
  if (consultation.state === 'requested' && mine) actions.push(act('accept', 'Accept'), act('decline', 'Decline'));
  if (consultation.state === 'open') {
    actions.push(h('a', { class: 'btn btn-small btn-primary', href: `/consultations/${consultation.id}`, 'data-action': 'enter' }, 'Enter room'));
    actions.push(act('close', 'Close'));
  }
  return h('li', { class: 'consult-row', 'data-consultation': String(consultation.id), 'data-state': consultation.state },
    h('div', { class: 'consult-main' },
      h('p', { class: 'consult-question' }, consultation.question),
      h('p', { class: 'muted small' },
        h('span', { class: `urgency urgency-${consultation.urgency}` }, urgencyLabel(consultation.urgency)), ' · ',
        consultation.patient_label, ' · ',
        ctx.me.role === 'consultant' ? `from ${consultation.requested_by_name}` : `to ${consultation.consultant_name || consultation.consultant_group_name}`,
        ' · ', consultation.identifiable ? 'identifiable' : 'de-identified',
        ' · ', `until ${dateTimeFormat(consultation.expires_at)}`),
      h('p', { class: 'consult-state small', 'data-state': consultation.state }, STATE_LABEL[consultation.state] ?? consultation.state),
    ),
    h('div', { class: 'consult-actions' }, ...actions));
}

/** The inbox socket: calls ``onChange`` whenever one of the user's consultations changes. */
export function inboxSocket(ctx: AppContext, onChange: () => void): () => void {
  let socket: WebSocket | null = null;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const connect = (): void => {
    socket = new WebSocket(`${ctx.config.wsRoot}/consultations/inbox/`);
    socket.onopen = () => document.body.setAttribute('data-inbox', 'live');
    socket.onmessage = (message: MessageEvent) => {
      try {
        const event = JSON.parse(String(message.data)) as { type?: string };
        if (event.type === 'consultation.changed') onChange();
      } catch {
        /* not an event */
      }
    };
    socket.onclose = () => {
      document.body.removeAttribute('data-inbox');
      if (!stopped) timer = setTimeout(() => { connect(); onChange(); }, 1000);
    };
  };
  connect();
  return () => {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
    socket?.close(1000);
  };
}

export async function consultInboxPage(ctx: AppContext): Promise<Page> {
  const api = new ConsultApi(ctx.api.http);
  const list = h('ul', { class: 'consult-list', id: 'consult-inbox', 'aria-live': 'polite' }, stateLoading());
  let sequence = 0;
  const load = async (): Promise<void> => {
    const mine = ++sequence;
    try {
      const rows = await api.list();
      if (mine !== sequence) return;
      replace(list, ...(rows.length ? rows.map((c) => consultRow(ctx, c, () => void load())) : [stateEmpty('No consultations.')]));
    } catch (error) {
      replace(list, stateError(error, () => void load()));
    }
  };
  const stop = inboxSocket(ctx, () => void load());
  void load();
  const element = h('div', { class: 'consult-inbox-page' },
    h('div', { class: 'page-head' }, h('h1', null, 'Consultations'),
      h('p', { class: 'muted' }, ctx.me.role === 'consultant' ? 'Cases shared with you. New requests appear here as they arrive.' : 'Consultations you asked for.')),
    list);
  return { element, title: 'Consultations', destroy: stop };
}
