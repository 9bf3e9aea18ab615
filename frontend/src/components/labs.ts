/** Laboratory results: the shared store, the liver panel (latest values) and the add form. */

import type { Api } from '../api/client';
import { ApiError, formErrors } from '../api/errors';
import type { Analyte, Observation } from '../api/types';
import { h } from '../lib/dom';
import { dateFormat } from '../lib/format';
import {
  type Comparator, type ReferenceRange, rangeConvert, rangeFlagCensored, rangeText, unitChoices, unitDisplay, unitPreferenceSet,
  unitPreferred, valueCensoredFormat, valueConvert,
} from '../lib/units';
import { dialogCreate } from './dialog';
import { formClearErrors, formError, formLiveClear, formShowErrors, formValue, inputField, numberOrNull, selectField } from './form';
import { stateEmpty } from './states';

/** The order of the liver panel; other catalogue analytes follow. */
export const PANEL_ORDER = ['alt', 'ast', 'bilirubin_total', 'albumin', 'platelets', 'inr', 'creatinine', 'sodium', 'afp', 'afp_l3', 'dcp', 'alp', 'ggt'];

const SHORT_NAMES: Readonly<Record<string, string>> = {
  bilirubin_total: 'Bilirubin', platelets: 'Platelets', inr: 'INR', albumin: 'Albumin', creatinine: 'Creatinine', sodium: 'Sodium',
  afp_l3: 'AFP-L3', dcp: 'DCP (PIVKA-II)',
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

/** One result as the panel shows it: value and reference range in the same unit. */
export interface LabRow {
  readonly value: number;
  readonly comparator: string;
  readonly unit: string;
  readonly range: ReferenceRange | null;
  /** Whose range: the reporting laboratory's, or the catalogue's generic adult one. */
  readonly rangeSource: 'laboratory' | 'generic' | null;
  readonly flag: ReturnType<typeof rangeFlagCensored>;
}

/**
 * The result in ``unit`` (the user's choice), with the laboratory's own range (sent in the
 * entered unit) or else the catalogue's (canonical) converted to the same unit, so that value
 * and range can be compared at a glance. Falls back to the entered unit when the catalogue
 * sent no factor for ``unit``.
 */
export function labRow(observation: Observation, analyte: Analyte | undefined, unit: string): LabRow {
  const comparator = observation.comparator ?? '';
  const converted = analyte ? valueConvert(analyte, observation.value_canonical, observation.unit_canonical, unit) : null;
  const shown = converted === null ? observation.unit : unit;
  const value = converted ?? observation.value;
  const low = observation.reference_low ?? null;
  const high = observation.reference_high ?? null;
  let range: ReferenceRange | null = null;
  let rangeSource: LabRow['rangeSource'] = null;
  if (low !== null || high !== null) {
    range = analyte ? rangeConvert(analyte, { low, high }, observation.unit, shown) : shown === observation.unit ? { low, high } : null;
    rangeSource = range ? 'laboratory' : null;
  } else if (analyte?.reference_range) {
    range = rangeConvert(analyte, analyte.reference_range, analyte.canonical_unit, shown);
    rangeSource = range ? 'generic' : null;
  }
  return { value, comparator, unit: shown, range, rangeSource, flag: range ? rangeFlagCensored(value, comparator, range) : 'unknown' };
}

const FLAG_TEXT = { high: 'High', low: 'Low', normal: 'Normal', unknown: '' } as const;

function labRowCells(row: LabRow, analyte: Analyte, options: { plain?: boolean }, onUnit: (unit: string) => void): HTMLElement[] {
  const flagText = row.flag === 'normal' && options.plain ? 'In the usual range' : FLAG_TEXT[row.flag];
  const choices = unitChoices(analyte).filter((unit) => valueConvert(analyte, 1, analyte.canonical_unit, unit) !== null);
  const unitLabel = (unit: string): string => unitDisplay(unit) || 'ratio';
  let unitCell: HTMLElement;
  if (choices.length > 1 && !options.plain) {
    const select = h('select', { class: 'unit-select', name: `unit-${analyte.key}`, 'aria-label': `Unit for ${analyte.display_name}` },
      ...choices.map((unit) => h('option', { value: unit, selected: unit === row.unit }, unitLabel(unit))));
    // The row opens the trend on click; choosing a unit must not.
    select.addEventListener('click', (event) => event.stopPropagation());
    select.addEventListener('change', () => onUnit(select.value));
    unitCell = h('span', { class: 'unit' }, select);
  } else {
    unitCell = h('span', { class: 'unit' }, unitDisplay(row.unit));
  }
  const censored = row.comparator
    ? h('span', { class: 'visually-hidden' }, row.comparator.startsWith('<') ? ' (below the assay limit)' : ' (above the assay limit)')
    : null;
  return [
    h('th', { scope: 'row', title: analyte.display_name }, analyteShortName(analyte)),
    h('td', { class: 'num' },
      h('span', { class: 'value', 'data-comparator': row.comparator || null }, valueCensoredFormat(row.value, row.comparator)), censored, ' ',
      unitCell,
      row.flag === 'high' || row.flag === 'low'
        ? h('span', { class: `flag flag-${row.flag}`, title: flagText }, row.flag === 'high' ? ' ▲' : ' ▼', h('span', { class: 'visually-hidden' }, ` ${flagText}`))
        : null,
    ),
    h('td', { class: 'range', title: row.rangeSource === 'generic' ? 'Generic adult range (the laboratory sent none)' : null },
      row.range ? rangeText(row.range, row.unit) : '—'),
  ];
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
    const tr = h('tr', { 'data-analyte': analyte.key });
    const draw = (unit: string): void => {
      const row = labRow(latest, analyte, unit);
      let change: HTMLElement | null = null;
      if (previous) {
        const before = labRow(previous, analyte, row.unit);
        const delta = latest.value_canonical - previous.value_canonical;
        const arrow = latest.comparator || previous.comparator ? '·' : Math.abs(delta) < 1e-9 ? '→' : delta > 0 ? '↑' : '↓';
        const text = valueCensoredFormat(before.value, before.comparator);
        change = h('span', { class: 'muted', title: `Previous ${text} ${unitDisplay(before.unit)} on ${dateFormat(previous.observed_at)}` },
          `${arrow} ${text}`);
      }
      tr.className = `flag-${row.flag}`;
      tr.dataset.unit = row.unit;
      tr.replaceChildren(
        ...labRowCells(row, analyte, options, (chosen) => {
          unitPreferenceSet(analyte.key, chosen);
          draw(chosen);
        }),
        h('td', null, h('time', { datetime: latest.observed_at }, dateFormat(latest.observed_at))),
        h('td', { class: 'change' }, change),
      );
    };
    draw(unitPreferred(analyte));
    rows.push(tr);
  }
  const other = data.observations.filter((o) => !data.analytes.some((a) => a.code === o.code));
  body.appendChild(h('div', { class: 'table-scroll' }, h('table', { class: 'table lab-table' },
    h('caption', { class: 'visually-hidden' }, 'Latest laboratory results with reference ranges, each in the unit chosen for it'),
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Test'), h('th', { scope: 'col', class: 'num' }, 'Latest'),
      h('th', { scope: 'col' }, options.plain ? 'Usual range' : 'Reference'), h('th', { scope: 'col' }, 'Date'),
      h('th', { scope: 'col', class: 'change' }, 'Previous'))),
    h('tbody', null, ...rows),
  )));
  if (other.length) body.appendChild(h('p', { class: 'muted' }, `${other.length} result(s) for tests outside the catalogue are not shown.`));
}

const LAB_FIELDS = ['code', 'analyte', 'comparator', 'value', 'unit', 'observed_at', 'reference_low', 'reference_high'];

const COMPARATOR_CHOICES = [
  { value: '', label: '=' }, { value: '<', label: '<' }, { value: '<=', label: '≤' }, { value: '>=', label: '≥' }, { value: '>', label: '>' },
];

/** The units a unit_suspect answer suggests ("did you mean g/dL?"); [] for any other error. */
export function suggestedUnits(error: ApiError): string[] {
  const detail = error.detail as { suggested_units?: unknown } | null;
  if (error.code !== 'unit_suspect' || !detail || !Array.isArray(detail.suggested_units)) return [];
  return detail.suggested_units.filter((u): u is string => typeof u === 'string');
}

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
    // "Did you mean g/dL?": filled when the server finds the value typical only in another unit.
    const hint = h('div', { class: 'unit-hint', role: 'status', hidden: true });
    let unitConfirmed = false;
    const form = h('form', { class: 'form', novalidate: true },
      formError(),
      analyteField,
      h('div', { class: 'field-row' },
        selectField({ name: 'comparator', label: 'Result is', choices: COMPARATOR_CHOICES, value: '', hint: 'Censored results such as "<5"' }),
        inputField({ name: 'value', label: 'Value', required: true, type: 'number', step: 'any', inputmode: 'decimal' }),
        unitField,
      ),
      hint,
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
    const hintClear = (): void => {
      unitConfirmed = false;
      hint.hidden = true;
      hint.replaceChildren();
    };
    const hintShow = (message: string, suggested: readonly string[]): void => {
      const entered = unitSelect.value;
      hint.replaceChildren(
        h('p', null, message),
        h('div', { class: 'form-actions' },
          ...suggested.map((unit) => h('button', {
            type: 'button', class: 'btn btn-primary', 'data-unit': unit,
            onclick: (() => {
              unitSelect.value = unit;
              hintClear();
              form.requestSubmit();
            }) as EventListener,
          }, `Use ${unitDisplay(unit) || unit}`)),
          h('button', {
            type: 'button', class: 'btn', 'data-confirm': 'unit',
            onclick: (() => {
              hintClear();
              unitConfirmed = true;
              form.requestSubmit();
            }) as EventListener,
          }, `Keep ${unitDisplay(entered) || entered}: the value is right`),
        ),
      );
      hint.hidden = false;
    };
    codeSelect.addEventListener('change', () => {
      hintClear();
      fillUnits();
    });
    unitSelect.addEventListener('change', hintClear);
    form.querySelector('input[name=value]')?.addEventListener('input', hintClear);
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
      const comparator = formValue(form, 'comparator') as Comparator | '';
      api.observationCreate(patientId, {
        code: formValue(form, 'code'),
        value: value as number,
        ...(comparator ? { comparator } : {}),
        unit: formValue(form, 'unit'),
        observed_at: new Date(observed).toISOString(),
        reference_low: numberOrNull(formValue(form, 'reference_low')),
        reference_high: numberOrNull(formValue(form, 'reference_high')),
        ...(unitConfirmed ? { unit_confirmed: true } : {}),
      }).then(() => {
        saved = true;
        dialog.close();
      }).catch((error: unknown) => {
        if (submit) submit.disabled = false;
        if (error instanceof ApiError && suggestedUnits(error).length) {
          formShowErrors(form, { fields: { unit: 'Unusual value for this unit.' }, general: null });
          hintShow(error.message, suggestedUnits(error));
        } else if (error instanceof ApiError) {
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
