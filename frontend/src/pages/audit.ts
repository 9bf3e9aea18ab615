/**
 * The audit trail (/audit), for administrators: who did what to which record, when, from where,
 * with what outcome. Filters (patient, user, action, outcome, time) combine with AND, live in
 * the page's URL so a filtered view can be shared, and are checked by the server (400 on a bad
 * one). Newest first, 50 a page.
 */

import type { AppContext, Page } from '../app';
import { stateEmpty, stateFor, stateLoading } from '../components/states';
import { h, replace } from '../lib/dom';
import { dateTimeFormat } from '../lib/format';

export interface AuditEntry {
  readonly id: number;
  readonly occurred_at: string;
  readonly actor_id: number | null;
  readonly actor_username: string;
  readonly action: string;
  readonly object_type: string;
  readonly object_id: string;
  readonly patient_id: number | null;
  readonly client_ip: string | null;
  readonly request_id: string;
  readonly client_request_id: string;
  readonly outcome: string;
  readonly detail: Record<string, unknown>;
}

interface AuditPage {
  readonly count: number;
  readonly next: string | null;
  readonly previous: string | null;
  readonly results: AuditEntry[];
}

export const AUDIT_ACTIONS = ['read', 'create', 'update', 'delete', 'export', 'share', 'login', 'logout', 'login-failed', 'subscribe'] as const;
export const AUDIT_OUTCOMES = ['success', 'denied', 'failed'] as const;

/** The filters the page understands, as the page's URL carries them. */
export interface AuditFilters {
  patient_id: string;
  actor: string;
  action: string;
  outcome: string;
  since: string;
  until: string;
  page: number;
}

const FILTER_NAMES = ['patient_id', 'actor', 'action', 'outcome', 'since', 'until'] as const;

export function auditFiltersRead(search: string): AuditFilters {
  const params = new URLSearchParams(search);
  const text = (name: string): string => (params.get(name) ?? '').trim().slice(0, 150);
  const page = Number(params.get('page') ?? '1');
  return {
    patient_id: /^\d{1,19}$/.test(text('patient_id')) ? text('patient_id') : '',
    actor: text('actor'),
    action: (AUDIT_ACTIONS as readonly string[]).includes(text('action')) ? text('action') : '',
    outcome: (AUDIT_OUTCOMES as readonly string[]).includes(text('outcome')) ? text('outcome') : '',
    since: text('since'),
    until: text('until'),
    page: Number.isInteger(page) && page > 0 && page < 100_000 ? page : 1,
  };
}

/** The URL query of the page (empty filters left out). */
export function auditFiltersSearch(filters: AuditFilters): string {
  const params = new URLSearchParams();
  for (const name of FILTER_NAMES) if (filters[name]) params.set(name, filters[name]);
  if (filters.page > 1) params.set('page', String(filters.page));
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** ``<input type="datetime-local">`` gives local wall time; the API wants an instant. */
export function localToIso(value: string): string {
  if (!value) return '';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? '' : date.toISOString();
}

/** The API query for these filters. */
export function auditApiQuery(filters: AuditFilters): Record<string, string | number | null> {
  return {
    patient_id: filters.patient_id || null,
    actor: filters.actor || null,
    action: filters.action || null,
    outcome: filters.outcome || null,
    since: localToIso(filters.since) || null,
    until: localToIso(filters.until) || null,
    page: filters.page > 1 ? filters.page : null,
  };
}

function select(name: string, label: string, options: readonly string[], value: string): HTMLElement {
  const element = h('select', { id: `audit-${name}`, name },
    h('option', { value: '' }, 'Any'),
    ...options.map((option) => h('option', { value: option }, option)));
  element.value = value;
  return h('label', { class: 'field' }, label, element);
}

function input(name: string, label: string, type: string, value: string): HTMLElement {
  return h('label', { class: 'field' }, label, h('input', { id: `audit-${name}`, name, type, value, autocomplete: 'off' }));
}

function row(entry: AuditEntry): HTMLElement {
  const object = entry.object_id ? `${entry.object_type} ${entry.object_id}` : entry.object_type;
  return h('tr', { 'data-outcome': entry.outcome, 'data-entry': String(entry.id) },
    h('td', null, dateTimeFormat(entry.occurred_at)),
    h('td', null, entry.actor_username || '(anonymous)'),
    h('td', null, entry.action),
    h('td', null, object),
    h('td', { class: 'num' }, entry.patient_id === null ? '' : String(entry.patient_id)),
    h('td', null, h('span', { class: `outcome outcome-${entry.outcome}` }, entry.outcome)),
    h('td', null, entry.client_ip ?? ''),
    h('td', null, h('code', { title: entry.client_request_id ? `client's id: ${entry.client_request_id}` : '' }, entry.request_id.slice(0, 12))),
  );
}

export function auditPage(ctx: AppContext): Page {
  ctx.setTitle('Audit trail');
  let filters = auditFiltersRead(location.search);
  const results = h('div', { class: 'audit-results', 'aria-live': 'polite' });
  const count = h('p', { class: 'muted', id: 'audit-count' });
  const form = h('form', { class: 'audit-filters', role: 'search', 'aria-label': 'Filter the audit trail' },
    input('patient_id', 'Patient id', 'text', filters.patient_id),
    input('actor', 'User name', 'text', filters.actor),
    select('action', 'Action', AUDIT_ACTIONS, filters.action),
    select('outcome', 'Outcome', AUDIT_OUTCOMES, filters.outcome),
    input('since', 'From', 'datetime-local', filters.since),
    input('until', 'Before', 'datetime-local', filters.until),
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Filter'),
  );
  let controller: AbortController | null = null;

  async function load(): Promise<void> {
    controller?.abort();
    const current = new AbortController();
    controller = current;
    replace(results, stateLoading('Loading the audit trail…'));
    try {
      const data = await ctx.api.http.get<AuditPage>('/audit/', auditApiQuery(filters), current.signal);
      if (current.signal.aborted) return;
      count.textContent = `${data.count} entr${data.count === 1 ? 'y' : 'ies'}, newest first`;
      if (data.results.length === 0) {
        replace(results, stateEmpty('No entry matches these filters.'));
        return;
      }
      const table = h('table', { class: 'table compact', id: 'audit-table' },
        h('thead', null, h('tr', null, ...['When', 'User', 'Action', 'Object', 'Patient', 'Outcome', 'From', 'Request'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', null, ...data.results.map(row)));
      const pager = h('div', { class: 'pager' });
      const go = (page: number, label: string, enabled: boolean): void => {
        const button = h('button', { type: 'button', class: 'btn btn-small' }, label);
        button.disabled = !enabled;
        button.addEventListener('click', () => show({ ...filters, page }));
        pager.append(button);
      };
      go(filters.page - 1, 'Newer', data.previous !== null);
      go(filters.page + 1, 'Older', data.next !== null);
      replace(results, table, pager);
    } catch (error) {
      if (current.signal.aborted || (error instanceof DOMException && error.name === 'AbortError')) return;
      replace(results, stateFor(error, 'The audit trail', () => void load()));
    }
  }

  function show(next: AuditFilters): void {
    filters = next;
    history.replaceState(null, '', `/audit${auditFiltersSearch(filters)}`);
    void load();
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    show(auditFiltersRead(`?${new URLSearchParams([...data.entries()].map(([k, v]) => [k, String(v)])).toString()}`));
  });

  const element = h('section', { class: 'audit-page' },
    h('h1', null, 'Audit trail'),
    ctx.me.role === 'admin' ? [form, count, results] : h('p', null, 'Only administrators may read the audit trail.'));
  if (ctx.me.role === 'admin') void load();
  return {
    element,
    title: 'Audit trail',
    destroy: () => controller?.abort(),
  };
}
