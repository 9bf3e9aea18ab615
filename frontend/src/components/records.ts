/** Genetics, lifestyle and clinical findings: their cards and their add forms. */

import { ApiError, formErrors } from '../api/errors';
import type { ClinicalFinding, GeneticFinding, LifestyleRecord } from '../api/types';
import { h } from '../lib/dom';
import { dateFormat, todayIso } from '../lib/format';
import { valueFormat } from '../lib/units';
import { dialogCreate } from './dialog';
import {
  type Choice, formClearErrors, formError, formLiveClear, formShowErrors, formValue, inputField, numberOrNull, selectField,
} from './form';
import { stateEmpty } from './states';

const label = (text: string | null | undefined): string => (text ? text.replace(/_/g, ' ') : '—');
const yesNo = (value: boolean | null | undefined): string => (value === null || value === undefined ? '—' : value ? 'yes' : 'no');

const TRI_STATE: readonly Choice[] = [{ value: 'true', label: 'Yes' }, { value: 'false', label: 'No' }];

function triState(text: string): boolean | null {
  return text === 'true' ? true : text === 'false' ? false : null;
}

export type Collected<T> = { body: T } | { errors: Record<string, string> };

/** Generic "add record" dialog: collects the form, posts it, shows API errors inline. */
export function recordFormOpen<T>(options: {
  title: string;
  fields: readonly HTMLElement[];
  fieldNames: readonly string[];
  collect: (form: HTMLFormElement) => Collected<T>;
  submit: (body: T) => Promise<unknown>;
}): Promise<boolean> {
  return new Promise((resolve) => {
    let saved = false;
    const dialog = dialogCreate(options.title, () => resolve(saved));
    const form = h('form', { class: 'form', novalidate: true },
      formError(),
      ...options.fields,
      h('div', { class: 'form-actions' },
        h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save'),
        h('button', { type: 'button', class: 'btn', onclick: (() => dialog.close()) as EventListener }, 'Cancel'),
      ),
    );
    formLiveClear(form);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      formClearErrors(form);
      const collected = options.collect(form);
      if ('errors' in collected) {
        formShowErrors(form, { fields: collected.errors, general: null });
        return;
      }
      const submit = form.querySelector<HTMLButtonElement>('button[type=submit]');
      if (submit) submit.disabled = true;
      options.submit(collected.body).then(() => {
        saved = true;
        dialog.close();
      }).catch((error: unknown) => {
        if (submit) submit.disabled = false;
        formShowErrors(form, error instanceof ApiError ? formErrors(error, options.fieldNames) : { fields: {}, general: 'Could not be saved.' });
      });
    });
    dialog.body.appendChild(form);
    dialog.open();
  });
}

// ---- genetics ----

/** Variants the liver scores and modifiers know, with their usual rsIDs. */
export const GENE_PRESETS: readonly { gene: string; rsid: string; label: string }[] = [
  { gene: 'PNPLA3', rsid: 'rs738409', label: 'PNPLA3 rs738409 (I148M)' },
  { gene: 'TM6SF2', rsid: 'rs58542926', label: 'TM6SF2 rs58542926 (E167K)' },
  { gene: 'HSD17B13', rsid: 'rs72613567', label: 'HSD17B13 rs72613567 (splice)' },
  { gene: 'HFE', rsid: 'rs1800562', label: 'HFE rs1800562 (C282Y)' },
  { gene: 'HFE', rsid: 'rs1799945', label: 'HFE rs1799945 (H63D)' },
];

export function geneticsRender(rows: readonly GeneticFinding[], body: HTMLElement): void {
  if (rows.length === 0) {
    body.appendChild(stateEmpty('No genetic findings recorded.'));
    return;
  }
  body.appendChild(h('table', { class: 'table compact' },
    h('thead', null, h('tr', null, ...['Gene', 'Variant', 'Genotype', 'Zygosity', 'Reported'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, ...rows.map((row) => h('tr', null,
      h('th', { scope: 'row' }, row.gene),
      h('td', { class: 'mono' }, row.rsid || row.hgvs || '—'),
      h('td', { class: 'mono' }, row.genotype || '—'),
      h('td', null, label(row.zygosity)),
      h('td', null, dateFormat(row.reported_on)))))));
}

export function geneticsFormOpen(submit: (body: Partial<GeneticFinding>) => Promise<unknown>): Promise<boolean> {
  const preset = selectField({
    name: 'preset', label: 'Variant', blank: 'Other (type below)', value: 'PNPLA3|rs738409',
    choices: GENE_PRESETS.map((p) => ({ value: `${p.gene}|${p.rsid}`, label: p.label })),
  });
  const gene = inputField({ name: 'gene', label: 'Gene (HGNC symbol)', required: true, value: 'PNPLA3' });
  const rsid = inputField({ name: 'rsid', label: 'dbSNP rsID', value: 'rs738409' });
  const presetSelect = preset.querySelector('select') as HTMLSelectElement;
  presetSelect.addEventListener('change', () => {
    const [g, r] = presetSelect.value.split('|');
    (gene.querySelector('input') as HTMLInputElement).value = g ?? '';
    (rsid.querySelector('input') as HTMLInputElement).value = r ?? '';
  });
  return recordFormOpen<Partial<GeneticFinding>>({
    title: 'Add genetic finding',
    fieldNames: ['gene', 'rsid', 'hgvs', 'genotype', 'zygosity', 'assay', 'reported_on'],
    fields: [
      preset,
      h('div', { class: 'field-row' }, gene, rsid),
      h('div', { class: 'field-row' },
        inputField({ name: 'genotype', label: 'Genotype', hint: 'Alleles, e.g. C/G' }),
        selectField({ name: 'zygosity', label: 'Zygosity', blank: 'Not stated', choices: [
          { value: 'heterozygous', label: 'Heterozygous' }, { value: 'homozygous', label: 'Homozygous' },
          { value: 'hemizygous', label: 'Hemizygous' }, { value: 'absent', label: 'Variant absent' }] }),
      ),
      inputField({ name: 'assay', label: 'Assay' }),
      inputField({ name: 'reported_on', label: 'Reported on', type: 'date', required: true, value: todayIso(), max: todayIso() }),
    ],
    collect: (form): Collected<Partial<GeneticFinding>> => {
      const errors: Record<string, string> = {};
      if (!formValue(form, 'gene')) errors.gene = 'Enter the gene symbol.';
      if (!formValue(form, 'reported_on')) errors.reported_on = 'Enter the report date.';
      if (Object.keys(errors).length) return { errors };
      const zygosity = formValue(form, 'zygosity');
      return { body: {
        gene: formValue(form, 'gene'), rsid: formValue(form, 'rsid'), genotype: formValue(form, 'genotype'),
        zygosity: (zygosity || null) as GeneticFinding['zygosity'], assay: formValue(form, 'assay'),
        reported_on: formValue(form, 'reported_on'),
      } };
    },
    submit,
  });
}

// ---- lifestyle ----

/** The newest stated value of each field (records are never overwritten). */
export function lifestyleLatest(rows: readonly LifestyleRecord[]): Partial<Record<keyof LifestyleRecord, { value: unknown; on: string }>> {
  const latest: Partial<Record<keyof LifestyleRecord, { value: unknown; on: string }>> = {};
  const sorted = [...rows].sort((a, b) => b.recorded_on.localeCompare(a.recorded_on));
  for (const row of sorted) {
    for (const [key, value] of Object.entries(row) as [keyof LifestyleRecord, unknown][]) {
      if (value === null || value === '' || key === 'id' || key === 'recorded_on') continue;
      latest[key] ??= { value, on: row.recorded_on };
    }
  }
  return latest;
}

export function lifestyleRender(rows: readonly LifestyleRecord[], body: HTMLElement): void {
  if (rows.length === 0) {
    body.appendChild(stateEmpty('No lifestyle information recorded.'));
    return;
  }
  const latest = lifestyleLatest(rows);
  const item = (term: string, text: string | null, on: string | undefined): HTMLElement[] => [
    h('dt', null, term),
    h('dd', null, text ?? '—', on && text ? h('span', { class: 'muted' }, ` · ${dateFormat(on)}`) : null),
  ];
  const num = (key: keyof LifestyleRecord, unit: string): string | null => {
    const entry = latest[key];
    return entry && typeof entry.value === 'number' ? `${valueFormat(entry.value)} ${unit}`.trim() : null;
  };
  const alcohol = latest.alcohol_g_per_day;
  const alcoholText = alcohol && typeof alcohol.value === 'number'
    ? `${valueFormat(alcohol.value)} g/day${alcohol.value >= 30 ? ' (above 30 g/day)' : ''}` : null;
  body.appendChild(h('dl', { class: 'facts' },
    ...item('Alcohol', alcoholText, alcohol?.on),
    ...item('Smoking', latest.smoking_status ? label(String(latest.smoking_status.value)) + (latest.pack_years ? `, ${valueFormat(Number(latest.pack_years.value))} pack-years` : '') : null, latest.smoking_status?.on),
    ...item('BMI', num('bmi', 'kg/m²'), latest.bmi?.on),
    ...item('Weight', num('weight_kg', 'kg'), latest.weight_kg?.on),
    ...item('Diabetes', latest.diabetes ? label(String(latest.diabetes.value)) : null, latest.diabetes?.on),
    ...item('Activity', num('activity_minutes_per_week', 'min/week'), latest.activity_minutes_per_week?.on),
  ));
}

export function lifestyleFormOpen(submit: (body: Partial<LifestyleRecord>) => Promise<unknown>): Promise<boolean> {
  return recordFormOpen<Partial<LifestyleRecord>>({
    title: 'Record lifestyle',
    fieldNames: ['recorded_on', 'alcohol_value', 'alcohol_unit', 'smoking_status', 'pack_years', 'height_cm', 'weight_kg', 'bmi', 'diabetes', 'activity_minutes_per_week'],
    fields: [
      inputField({ name: 'recorded_on', label: 'Recorded on', type: 'date', required: true, value: todayIso(), max: todayIso() }),
      h('div', { class: 'field-row' },
        inputField({ name: 'alcohol_value', label: 'Alcohol', type: 'number', step: 'any', min: '0' }),
        selectField({ name: 'alcohol_unit', label: 'Alcohol unit', value: 'units/week', choices: [
          { value: 'units/week', label: 'UK units per week' }, { value: 'g/day', label: 'grams per day' }] }),
      ),
      h('div', { class: 'field-row' },
        selectField({ name: 'smoking_status', label: 'Smoking', blank: 'Not recorded', choices: [
          { value: 'never', label: 'Never' }, { value: 'former', label: 'Former' }, { value: 'current', label: 'Current' }] }),
        inputField({ name: 'pack_years', label: 'Pack-years', type: 'number', step: 'any', min: '0' }),
      ),
      h('div', { class: 'field-row' },
        inputField({ name: 'height_cm', label: 'Height (cm)', type: 'number', step: 'any', min: '0' }),
        inputField({ name: 'weight_kg', label: 'Weight (kg)', type: 'number', step: 'any', min: '0' }),
      ),
      h('div', { class: 'field-row' },
        selectField({ name: 'diabetes', label: 'Diabetes', blank: 'Not recorded', choices: [
          { value: 'none', label: 'None' }, { value: 'prediabetes', label: 'Prediabetes' }, { value: 'type_1', label: 'Type 1' },
          { value: 'type_2', label: 'Type 2' }, { value: 'other', label: 'Other' }] }),
        inputField({ name: 'activity_minutes_per_week', label: 'Activity (min/week)', type: 'number', step: '1', min: '0' }),
      ),
    ],
    collect: (form): Collected<Partial<LifestyleRecord>> => {
      if (!formValue(form, 'recorded_on')) return { errors: { recorded_on: 'Enter the date.' } };
      const alcohol = numberOrNull(formValue(form, 'alcohol_value'));
      const body: Record<string, unknown> = {
        recorded_on: formValue(form, 'recorded_on'),
        alcohol_value: alcohol,
        alcohol_unit: alcohol === null ? '' : formValue(form, 'alcohol_unit'),
        smoking_status: formValue(form, 'smoking_status') || null,
        pack_years: numberOrNull(formValue(form, 'pack_years')),
        height_cm: numberOrNull(formValue(form, 'height_cm')),
        weight_kg: numberOrNull(formValue(form, 'weight_kg')),
        diabetes: formValue(form, 'diabetes') || null,
        activity_minutes_per_week: numberOrNull(formValue(form, 'activity_minutes_per_week')),
      };
      const stated = Object.entries(body).filter(([k, v]) => k !== 'recorded_on' && k !== 'alcohol_unit' && v !== null);
      if (stated.length === 0) return { errors: { alcohol_value: 'Record at least one item.' } };
      return { body: body as Partial<LifestyleRecord> };
    },
    submit,
  });
}

// ---- clinical findings ----

export function findingsLatest(rows: readonly ClinicalFinding[]): Partial<Record<keyof ClinicalFinding, { value: unknown; on: string }>> {
  const latest: Partial<Record<keyof ClinicalFinding, { value: unknown; on: string }>> = {};
  for (const row of [...rows].sort((a, b) => b.assessed_on.localeCompare(a.assessed_on))) {
    for (const [key, value] of Object.entries(row) as [keyof ClinicalFinding, unknown][]) {
      if (value === null || value === '' || key === 'id' || key === 'assessed_on') continue;
      latest[key] ??= { value, on: row.assessed_on };
    }
  }
  return latest;
}

export function findingsRender(rows: readonly ClinicalFinding[], body: HTMLElement): void {
  if (rows.length === 0) {
    body.appendChild(stateEmpty('No clinical findings recorded.'));
    return;
  }
  const latest = findingsLatest(rows);
  const text = (key: keyof ClinicalFinding): string | null => {
    const entry = latest[key];
    if (!entry) return null;
    return typeof entry.value === 'boolean' ? yesNo(entry.value) : label(String(entry.value));
  };
  const item = (term: string, key: keyof ClinicalFinding): HTMLElement[] => [
    h('dt', null, term),
    h('dd', null, text(key) ?? 'not assessed', latest[key] ? h('span', { class: 'muted' }, ` · ${dateFormat(latest[key]?.on)}`) : null),
  ];
  const staging = STAGING_FACTS.filter(([, key]) => latest[key] !== undefined);
  body.appendChild(h('dl', { class: 'facts' },
    ...item('Ascites', 'ascites'), ...item('Encephalopathy', 'encephalopathy'), ...item('ECOG PS', 'ecog_ps'),
    ...item('Dialysis ≥2 in past week', 'dialysis_twice_past_week'), ...item('Known cirrhosis', 'known_cirrhosis'),
    ...item('Cholestatic disease', 'cholestatic_disease'), ...item('HBV', 'hbv_status'), ...item('HCV', 'hcv_status'),
    // Tumour staging facts only once a clinician has stated any: most patients have none.
    ...staging.flatMap(([term, key]) => item(term, key)),
  ));
}

const STAGING_FACTS: readonly (readonly [string, keyof ClinicalFinding])[] = [
  ['Liver tumours (number)', 'tumour_count'],
  ['Largest tumour (mm)', 'tumour_largest_diameter_mm'],
  ['Macrovascular invasion', 'macrovascular_invasion'],
  ['Extrahepatic spread', 'extrahepatic_spread'],
  ['Portal hypertension (CSPH)', 'clinically_significant_portal_hypertension'],
  ['Transplant candidate', 'transplant_candidate'],
];

const FINDING_FIELDS = [
  'assessed_on', 'ascites', 'encephalopathy', 'ecog_ps', 'dialysis_twice_past_week', 'hbv_status', 'hcv_status',
  'known_cirrhosis', 'cholestatic_disease', 'tumour_count', 'tumour_largest_diameter_mm', 'macrovascular_invasion',
  'extrahepatic_spread', 'clinically_significant_portal_hypertension', 'transplant_candidate',
] as const;

/** Whole number of tumours (0 = none seen), or null when not assessed; a message when invalid. */
export function tumourCountRead(text: string): { value: number | null } | { error: string } {
  if (text.trim() === '') return { value: null };
  const value = Number(text);
  return Number.isInteger(value) && value >= 0 && value <= 100 ? { value } : { error: 'Enter a whole number from 0 to 100.' };
}

export function findingsFormOpen(submit: (body: Partial<ClinicalFinding>) => Promise<unknown>): Promise<boolean> {
  return recordFormOpen<Partial<ClinicalFinding>>({
    title: 'Record clinical findings',
    fieldNames: FINDING_FIELDS,
    fields: [
      inputField({ name: 'assessed_on', label: 'Assessed on', type: 'date', required: true, value: todayIso(), max: todayIso() }),
      h('div', { class: 'field-row' },
        selectField({ name: 'ascites', label: 'Ascites', blank: 'Not assessed', choices: [
          { value: 'none', label: 'None' }, { value: 'slight', label: 'Slight' }, { value: 'moderate_severe', label: 'Moderate to severe' }] }),
        selectField({ name: 'encephalopathy', label: 'Encephalopathy', blank: 'Not assessed', choices: [
          { value: 'none', label: 'None' }, { value: 'grade_1_2', label: 'Grade 1–2' }, { value: 'grade_3_4', label: 'Grade 3–4' }] }),
      ),
      h('div', { class: 'field-row' },
        selectField({ name: 'ecog_ps', label: 'ECOG performance status', blank: 'Not assessed', choices: [0, 1, 2, 3, 4].map((n) => ({ value: String(n), label: String(n) })) }),
        selectField({ name: 'dialysis_twice_past_week', label: 'Dialysis ≥2 times in the past week', blank: 'Not assessed', choices: TRI_STATE }),
      ),
      h('div', { class: 'field-row' },
        selectField({ name: 'hbv_status', label: 'HBV', blank: 'Not assessed', choices: [
          { value: 'negative', label: 'Negative' }, { value: 'chronic', label: 'Chronic (HBsAg+)' }, { value: 'resolved', label: 'Resolved' }, { value: 'vaccinated', label: 'Vaccinated' }] }),
        selectField({ name: 'hcv_status', label: 'HCV', blank: 'Not assessed', choices: [
          { value: 'negative', label: 'Negative' }, { value: 'chronic', label: 'Chronic (RNA+)' }, { value: 'cleared', label: 'Cleared' }] }),
      ),
      h('div', { class: 'field-row' },
        selectField({ name: 'known_cirrhosis', label: 'Known cirrhosis', blank: 'Not assessed', choices: TRI_STATE }),
        selectField({ name: 'cholestatic_disease', label: 'Cholestatic disease', blank: 'Not assessed', choices: TRI_STATE }),
      ),
      h('fieldset', { class: 'fieldset', 'data-section': 'staging' },
        h('legend', null, 'Liver tumour staging (BCLC 2022; leave blank when not assessed)'),
        h('div', { class: 'field-row' },
          inputField({ name: 'tumour_count', label: 'Number of tumours', type: 'number', step: '1', min: '0', inputmode: 'numeric' }),
          inputField({ name: 'tumour_largest_diameter_mm', label: 'Largest diameter (mm)', type: 'number', step: 'any', min: '0', inputmode: 'decimal' }),
        ),
        h('div', { class: 'field-row' },
          selectField({ name: 'macrovascular_invasion', label: 'Macrovascular invasion', blank: 'Not assessed', choices: TRI_STATE }),
          selectField({ name: 'extrahepatic_spread', label: 'Extrahepatic spread', blank: 'Not assessed', choices: TRI_STATE }),
        ),
        h('div', { class: 'field-row' },
          selectField({ name: 'clinically_significant_portal_hypertension', label: 'Clinically significant portal hypertension', blank: 'Not assessed', choices: TRI_STATE }),
          selectField({ name: 'transplant_candidate', label: 'Liver transplant candidate', blank: 'Not assessed', choices: TRI_STATE }),
        ),
      ),
    ],
    collect: (form): Collected<Partial<ClinicalFinding>> => {
      if (!formValue(form, 'assessed_on')) return { errors: { assessed_on: 'Enter the date.' } };
      const count = tumourCountRead(formValue(form, 'tumour_count'));
      if ('error' in count) return { errors: { tumour_count: count.error } };
      const largest = numberOrNull(formValue(form, 'tumour_largest_diameter_mm'));
      if (largest !== null && largest <= 0) return { errors: { tumour_largest_diameter_mm: 'Enter a diameter above 0 mm.' } };
      const ecog = formValue(form, 'ecog_ps');
      const body: Record<string, unknown> = {
        assessed_on: formValue(form, 'assessed_on'),
        ascites: formValue(form, 'ascites') || null,
        encephalopathy: formValue(form, 'encephalopathy') || null,
        ecog_ps: ecog === '' ? null : Number(ecog),
        dialysis_twice_past_week: triState(formValue(form, 'dialysis_twice_past_week')),
        hbv_status: formValue(form, 'hbv_status') || null,
        hcv_status: formValue(form, 'hcv_status') || null,
        known_cirrhosis: triState(formValue(form, 'known_cirrhosis')),
        cholestatic_disease: triState(formValue(form, 'cholestatic_disease')),
        tumour_count: count.value,
        tumour_largest_diameter_mm: largest,
        macrovascular_invasion: triState(formValue(form, 'macrovascular_invasion')),
        extrahepatic_spread: triState(formValue(form, 'extrahepatic_spread')),
        clinically_significant_portal_hypertension: triState(formValue(form, 'clinically_significant_portal_hypertension')),
        transplant_candidate: triState(formValue(form, 'transplant_candidate')),
      };
      if (Object.entries(body).every(([k, v]) => k === 'assessed_on' || v === null)) return { errors: { ascites: 'Record at least one finding.' } };
      return { body: body as Partial<ClinicalFinding> };
    },
    submit,
  });
}
