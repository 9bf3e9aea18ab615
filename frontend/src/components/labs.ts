/** Laboratory results: the shared store, the liver panel (latest values) and the add form. */

import type { Api } from '../api/client';
import { ApiError, formErrors } from '../api/errors';
import type { Analyte, Observation } from '../api/types';
import { h } from '../lib/dom';
import { dateFormat } from '../lib/format';
import { rangeFlag, rangeText, unitDisplay, valueFormat } from '../lib/units';
import { dialogCreate } from './dialog';
import { formClearErrors, formError, formLiveClear, formShowErrors, formValue, inputField, numberOrNull, selectField } from './form';
import { stateEmpty } from './states';

/** The order of the liver panel; other catalogue analytes follow. */
export const PANEL_ORDER = ['alt', 'ast', 'bilirubin_total', 'albumin', 'platelets', 'inr', 'creatinine', 'sodium', 'afp', 'alp', 'ggt'];

const SHORT_NAMES: Readonly<Record<string, string>> = {
  bilirubin_total: 'Bilirubin', platelets: 'Platelets', inr: 'INR', albumin: 'Albumin', creatinine: 'Creatinine', sodium: 'Sodium',
};

/** "Alanine aminotransferase (ALT)" -> "ALT": what fits a panel row; the full name is its title. */
export function analyteShortName(analyte: { key: string; display_name: string }): string {
  return SHORT_NAMES[analyte.key] ?? /\(([^)]{2,12})\)\s*$/.exec(analyte.display_name)?.[1] ?? analyte.display_name;
}

export function analytesOrdered(analytes: readonly Analyte[]): Analyte[] {
  return [...analytes].sort((a, b) => {
    const ia = PANEL_ORDER.indexOf(a.key);
    const ib = PANEL_ORDER.indexOf(b.key);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
  });
}

export interface LabData {
  readonly analytes: readonly Analyte[];
  readonly observations: readonly Observation[];
}

/** Loads the catalogue once and the observations on every refresh; notifies listeners. */
export class LabStore {
  private readonly api: Api;
  private readonly patientId: number;
  private analytes: Analyte[] | null = null;
  private readonly listeners = new Set<(data: LabData) => void>();
  current: LabData | null = null;

  constructor(api: Api, patientId: number) {
    this.api = api;
    this.patientId = patientId;
  }

  subscribe(listener: (data: LabData) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async catalogue(): Promise<Analyte[]> {
    this.analytes ??= analytesOrdered(await this.api.analytes());
    return this.analytes;
  }

  async load(): Promise<LabData> {
    const [analytes, observations] = await Promise.all([this.catalogue(), this.api.observations(this.patientId)]);
    const data = { analytes, observations };
    this.current = data;
    for (const listener of this.listeners) listener(data);
    return data;
  }
}

export function analyteOf(analytes: readonly Analyte[], observation: Observation): Analyte | undefined {
  return analytes.find((a) => a.code === observation.code);
}

/** Newest first per analyte. */
export function observationsByAnalyte(data: LabData): Map<string, Observation[]> {
  const grouped = new Map<string, Observation[]>();
  for (const observation of data.observations) {
    const analyte = analyteOf(data.analytes, observation);
    const key = analyte?.key ?? observation.code;
    const list = grouped.get(key) ?? [];
    list.push(observation);
    grouped.set(key, list);
  }
  for (const list of grouped.values()) list.sort((a, b) => b.observed_at.localeCompare(a.observed_at));
  return grouped;
}

/** The lab's own range when it sent one (in the entered unit), else the catalogue's (canonical). */
function rangeFor(observation: Observation, analyte: Analyte | undefined): { low: number | null; high: number | null; unit: string; value: number } | null {
  const low = observation.reference_low ?? null;
  const high = observation.reference_high ?? null;
  if (low !== null || high !== null) return { low, high, unit: observation.unit, value: observation.value };
  if (analyte?.reference_range) {
    return { ...analyte.reference_range, unit: analyte.canonical_unit, value: observation.value_canonical };
  }
  return null;
}

export function labPanelRender(data: LabData, body: HTMLElement, options: { plain?: boolean } = {}): void {
  const grouped = observationsByAnalyte(data);
  if (data.observations.length === 0) {
    body.appendChild(stateEmpty('No laboratory results recorded yet.'));
    return;
  }
  const rows: HTMLElement[] = [];
  for (const analyte of data.analytes) {
    const list = grouped.get(analyte.key);
    const latest = list?.[0];
    if (!latest) continue;
    const previous = list?.[1];
    const range = rangeFor(latest, analyte);
    const flag = range ? rangeFlag(range.value, range) : 'unknown';
    const flagText = flag === 'high' ? 'High' : flag === 'low' ? 'Low' : flag === 'normal' ? (options.plain ? 'In the usual range' : 'Normal') : '';
    let change: HTMLElement | null = null;
    if (previous) {
      const delta = latest.value_canonical - previous.value_canonical;
      const arrow = Math.abs(delta) < 1e-9 ? '→' : delta > 0 ? '↑' : '↓';
      change = h('span', { class: 'muted', title: `Previous ${valueFormat(previous.value)} ${unitDisplay(previous.unit)} on ${dateFormat(previous.observed_at)}` },
        `${arrow} ${valueFormat(previous.value)}`);
    }
    rows.push(h('tr', { class: `flag-${flag}`, 'data-analyte': analyte.key },
      h('th', { scope: 'row', title: analyte.display_name }, analyteShortName(analyte)),
      h('td', { class: 'num' },
        h('span', { class: 'value' }, valueFormat(latest.value)), ' ',
        h('span', { class: 'unit' }, unitDisplay(latest.unit)),
        flag === 'high' || flag === 'low'
          ? h('span', { class: `flag flag-${flag}`, title: flagText }, flag === 'high' ? ' ▲' : ' ▼', h('span', { class: 'visually-hidden' }, ` ${flagText}`))
          : null,
      ),
      h('td', { class: 'range' }, range ? rangeText(range, range.unit) : '—'),
      h('td', null, h('time', { datetime: latest.observed_at }, dateFormat(latest.observed_at))),
      h('td', { class: 'change' }, change),
    ));
  }
  const other = data.observations.filter((o) => !data.analytes.some((a) => a.code === o.code));
  body.appendChild(h('div', { class: 'table-scroll' }, h('table', { class: 'table lab-table' },
    h('caption', { class: 'visually-hidden' }, 'Latest laboratory results with reference ranges'),
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Test'), h('th', { scope: 'col', class: 'num' }, 'Latest'),
      h('th', { scope: 'col' }, options.plain ? 'Usual range' : 'Reference'), h('th', { scope: 'col' }, 'Date'),
      h('th', { scope: 'col', class: 'change' }, 'Previous'))),
    h('tbody', null, ...rows),
  )));
  if (other.length) body.appendChild(h('p', { class: 'muted' }, `${other.length} result(s) for tests outside the catalogue are not shown.`));
}

const LAB_FIELDS = ['code', 'analyte', 'value', 'unit', 'observed_at', 'reference_low', 'reference_high'];

function localDateTimeNow(): string {
  const now = new Date();
  now.setSeconds(0, 0);
  return new Date(now.getTime() - now.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/** Open the "add lab result" dialog; resolves true when a result was saved. */
export async function labFormOpen(api: Api, store: LabStore, patientId: number, preset?: string): Promise<boolean> {
  const analytes = await store.catalogue();
  return new Promise((resolve) => {
    let saved = false;
    const dialog = dialogCreate('Add laboratory result', () => resolve(saved));
    const analyteField = selectField({
      name: 'code', label: 'Test', required: true, value: analytes.find((a) => a.key === preset)?.code ?? analytes[0]?.code ?? '',
      choices: analytes.map((a) => ({ value: a.code, label: `${a.display_name} (LOINC ${a.code})` })),
    });
    const unitField = selectField({ name: 'unit', label: 'Unit', required: true, choices: [] });
    const form = h('form', { class: 'form', novalidate: true },
      formError(),
      analyteField,
      h('div', { class: 'field-row' },
        inputField({ name: 'value', label: 'Value', required: true, type: 'number', step: 'any', inputmode: 'decimal' }),
        unitField,
      ),
      inputField({ name: 'observed_at', label: 'Specimen taken', required: true, type: 'datetime-local', value: localDateTimeNow() }),
      h('fieldset', { class: 'fieldset' }, h('legend', null, 'Laboratory reference range (optional, in the unit above)'),
        h('div', { class: 'field-row' },
          inputField({ name: 'reference_low', label: 'Low', type: 'number', step: 'any' }),
          inputField({ name: 'reference_high', label: 'High', type: 'number', step: 'any' }),
        )),
      h('div', { class: 'form-actions' },
        h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save result'),
        h('button', { type: 'button', class: 'btn', onclick: (() => dialog.close()) as EventListener }, 'Cancel'),
      ),
    );
    const codeSelect = analyteField.querySelector('select') as HTMLSelectElement;
    const unitSelect = unitField.querySelector('select') as HTMLSelectElement;
    const fillUnits = (): void => {
      const analyte = analytes.find((a) => a.code === codeSelect.value);
      const units = analyte ? (analyte.units.length ? analyte.units : [analyte.canonical_unit]) : [];
      unitSelect.replaceChildren(...units.map((unit) =>
        h('option', { value: unit, selected: unit === analyte?.canonical_unit }, unitDisplay(unit) ? `${unitDisplay(unit)}${unitDisplay(unit) !== unit ? ` (${unit})` : ''}` : 'no unit (ratio)')));
    };
    codeSelect.addEventListener('change', fillUnits);
    fillUnits();
    formLiveClear(form);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      formClearErrors(form);
      const value = numberOrNull(formValue(form, 'value'));
      const observed = formValue(form, 'observed_at');
      const local: Record<string, string> = {};
      if (value === null) local.value = 'Enter a number.';
      if (!observed) local.observed_at = 'Enter when the specimen was taken.';
      else if (new Date(observed).getTime() > Date.now() + 60_000) local.observed_at = 'This is in the future.';
      if (Object.keys(local).length) {
        formShowErrors(form, { fields: local, general: null });
        return;
      }
      const submit = form.querySelector<HTMLButtonElement>('button[type=submit]');
      if (submit) submit.disabled = true;
      api.observationCreate(patientId, {
        code: formValue(form, 'code'),
        value: value as number,
        unit: formValue(form, 'unit'),
        observed_at: new Date(observed).toISOString(),
        reference_low: numberOrNull(formValue(form, 'reference_low')),
        reference_high: numberOrNull(formValue(form, 'reference_high')),
      }).then(() => {
        saved = true;
        dialog.close();
      }).catch((error: unknown) => {
        if (submit) submit.disabled = false;
        if (error instanceof ApiError) {
          const mapped = formErrors(error, LAB_FIELDS);
          const fields = { ...mapped.fields };
          if (fields.analyte) { fields.code = fields.analyte; delete fields.analyte; }
          formShowErrors(form, { fields, general: mapped.general });
        } else {
          formShowErrors(form, { fields: {}, general: 'The result could not be saved.' });
        }
      });
    });
    dialog.body.appendChild(form);
    dialog.open();
  });
}
