/** Patient list: search by name or MRN, most recent activity first, keyboard friendly. */

import type { AppContext, Page } from '../app';
import type { Patient } from '../api/types';
import { stateEmpty, stateFor, stateLoading } from '../components/states';
import { h, replace } from '../lib/dom';
import { ageYears, dateFormat, personName, relativeTime } from '../lib/format';
import { type Route, routeHref } from '../lib/routes';

export function patientsPage(ctx: AppContext, route: Route): Page {
  const initial = route.name === 'patients' ? route.q : '';
  const search = h('input', {
    id: 'patient-search', type: 'search', name: 'q', value: initial, autocomplete: 'off',
    placeholder: 'Name or MRN', 'aria-describedby': 'patient-search-hint', spellcheck: 'false',
  });
  const results = h('div', { class: 'patient-results', 'aria-live': 'polite' });
  const count = h('p', { class: 'muted', id: 'patient-count' });
  let controller: AbortController | null = null;
  let timer: number | null = null;
  let page = 1;

  async function load(q: string, pageNumber: number): Promise<void> {
    controller?.abort();
    const current = new AbortController();
    controller = current;
    replace(results, stateLoading('Searching…'));
    try {
      const data = await ctx.api.patientsSearch(q, pageNumber, current.signal);
      if (current.signal.aborted) return;
      count.textContent = q ? `${data.count} patient${data.count === 1 ? '' : 's'} match “${q}”` : `${data.count} patient${data.count === 1 ? '' : 's'}, most recent activity first`;
      if (data.results.length === 0) {
        replace(results, stateEmpty(q ? 'No patient matches this search.' : 'No patients are shared with you yet.'));
        return;
      }
      replace(results, table(data.results), pager(data.previous !== null, data.next !== null, pageNumber));
    } catch (error) {
      if (current.signal.aborted || (error instanceof DOMException && error.name === 'AbortError')) return;
      replace(results, stateFor(error, 'The patient list', () => void load(q, pageNumber)));
    }
  }

  function table(patients: readonly Patient[]): HTMLElement {
    return h('table', { class: 'table patient-table' },
      h('caption', { class: 'visually-hidden' }, 'Patients'),
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'MRN'), h('th', { scope: 'col' }, 'Born'),
        h('th', { scope: 'col' }, 'Sex'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Last activity'))),
      h('tbody', null, ...patients.map((patient) => {
        const href = routeHref({ name: 'patient', patientId: patient.id });
        const age = ageYears(patient.birth_date);
        const row = h('tr', { 'data-href': href },
          h('td', null, h('a', { href, class: 'patient-link' }, personName(patient.given_name, patient.family_name))),
          h('td', { class: 'mono' }, patient.mrn),
          h('td', null, dateFormat(patient.birth_date), age !== null ? h('span', { class: 'muted' }, ` (${age} y)`) : null),
          h('td', null, patient.sex),
          h('td', null, h('span', { class: `badge badge-${patient.status}` }, patient.status)),
          h('td', null, h('time', { datetime: patient.updated_at, title: patient.updated_at }, relativeTime(patient.updated_at))),
        );
        row.addEventListener('click', (event) => {
          if ((event.target as Element).closest('a')) return;
          ctx.navigate(href);
        });
        return row;
      })),
    );
  }

  function pager(hasPrevious: boolean, hasNext: boolean, pageNumber: number): HTMLElement | null {
    if (!hasPrevious && !hasNext) return null;
    const previous = h('button', { type: 'button', class: 'btn btn-small', disabled: !hasPrevious }, '← Previous');
    const next = h('button', { type: 'button', class: 'btn btn-small', disabled: !hasNext }, 'Next →');
    previous.addEventListener('click', () => { page = pageNumber - 1; void load(search.value.trim(), page); });
    next.addEventListener('click', () => { page = pageNumber + 1; void load(search.value.trim(), page); });
    return h('nav', { class: 'pager', 'aria-label': 'Pages' }, previous, h('span', null, `Page ${pageNumber}`), next);
  }

  search.addEventListener('input', () => {
    if (timer !== null) window.clearTimeout(timer);
    timer = window.setTimeout(() => {
      const q = search.value.trim();
      history.replaceState(null, '', routeHref({ name: 'patients', q }));
      page = 1;
      void load(q, page);
    }, 250);
  });
  search.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault();
      const first = results.querySelector<HTMLAnchorElement>('a.patient-link');
      if (first) ctx.navigate(first.getAttribute('href') ?? '/patients');
    } else if (event.key === 'ArrowDown') {
      event.preventDefault();
      results.querySelector<HTMLAnchorElement>('a.patient-link')?.focus();
    }
  });
  results.addEventListener('keydown', (event) => {
    const target = event.target as HTMLElement;
    if (!target.matches('a.patient-link') || (event.key !== 'ArrowDown' && event.key !== 'ArrowUp')) return;
    event.preventDefault();
    const links = [...results.querySelectorAll<HTMLAnchorElement>('a.patient-link')];
    const index = links.indexOf(target as HTMLAnchorElement);
    const nextIndex = event.key === 'ArrowDown' ? index + 1 : index - 1;
    if (nextIndex < 0) search.focus();
    else links[Math.min(nextIndex, links.length - 1)]?.focus();
  });

  const element = h('div', { class: 'patients-page' },
    h('div', { class: 'page-head' }, h('h1', null, 'Patients')),
    h('form', { class: 'search-bar', role: 'search', onsubmit: ((event: Event) => event.preventDefault()) as EventListener },
      h('label', { for: 'patient-search' }, 'Search patients'),
      search,
      h('p', { id: 'patient-search-hint', class: 'hint' }, 'Type a name or an MRN. Press / to come back here, ↓ to move into the results, Enter to open the first.'),
    ),
    count,
    results,
  );
  void load(initial, page);
  window.setTimeout(() => search.focus(), 0);
  return {
    element,
    title: 'Patients',
    destroy() {
      controller?.abort();
      if (timer !== null) window.clearTimeout(timer);
    },
  };
}
