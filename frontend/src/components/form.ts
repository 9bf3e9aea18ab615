/** Labelled form fields with an error slot each, and showing API errors on them. */

import type { FormErrors } from '../api/errors';
import { h, uid } from '../lib/dom';

export interface FieldOptions {
  readonly name: string;
  readonly label: string;
  readonly hint?: string;
  readonly required?: boolean;
}

function wrap(options: FieldOptions, control: HTMLElement, id: string): HTMLElement {
  const errorId = `${id}-error`;
  const hintId = options.hint ? `${id}-hint` : null;
  control.setAttribute('aria-describedby', [hintId, errorId].filter(Boolean).join(' '));
  return h('div', { class: 'field', 'data-field': options.name },
    h('label', { for: id }, options.label, options.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    control,
    hintId ? h('p', { class: 'hint', id: hintId }, options.hint) : null,
    h('p', { class: 'field-error', id: errorId, 'aria-live': 'polite' }),
  );
}

export function inputField(options: FieldOptions & { type?: string; step?: string; value?: string; min?: string; max?: string; autocomplete?: string; inputmode?: string }): HTMLElement {
  const id = uid(`f-${options.name}`);
  const input = h('input', {
    id, name: options.name, type: options.type ?? 'text', required: options.required ?? false,
    step: options.step ?? null, min: options.min ?? null, max: options.max ?? null,
    value: options.value ?? null, autocomplete: options.autocomplete ?? 'off', inputmode: options.inputmode ?? null,
  });
  return wrap(options, input, id);
}

export interface Choice {
  readonly value: string;
  readonly label: string;
}

export function selectField(options: FieldOptions & { choices: readonly Choice[]; value?: string; blank?: string }): HTMLElement {
  const id = uid(`f-${options.name}`);
  const select = h('select', { id, name: options.name, required: options.required ?? false },
    options.blank !== undefined ? h('option', { value: '' }, options.blank) : null,
    ...options.choices.map((choice) => h('option', { value: choice.value, selected: choice.value === options.value }, choice.label)),
  );
  return wrap(options, select, id);
}

export function textareaField(options: FieldOptions & { rows?: number }): HTMLElement {
  const id = uid(`f-${options.name}`);
  const area = h('textarea', { id, name: options.name, rows: options.rows ?? 3, required: options.required ?? false });
  return wrap(options, area, id);
}

export function formClearErrors(form: HTMLFormElement): void {
  for (const slot of form.querySelectorAll<HTMLElement>('.field-error')) slot.textContent = '';
  for (const control of form.querySelectorAll('[aria-invalid]')) control.removeAttribute('aria-invalid');
  const general = form.querySelector<HTMLElement>('.form-error');
  if (general) {
    general.textContent = '';
    general.hidden = true;
  }
}

/** Show errors next to fields; focus the first invalid control. */
export function formShowErrors(form: HTMLFormElement, errors: FormErrors): void {
  formClearErrors(form);
  let first: HTMLElement | null = null;
  for (const [name, message] of Object.entries(errors.fields)) {
    const field = form.querySelector<HTMLElement>(`.field[data-field="${CSS.escape(name)}"]`);
    const slot = field?.querySelector<HTMLElement>('.field-error');
    const control = field?.querySelector<HTMLElement>('input, select, textarea');
    if (slot) slot.textContent = message;
    if (control) {
      control.setAttribute('aria-invalid', 'true');
      first ??= control;
    }
  }
  const general = form.querySelector<HTMLElement>('.form-error');
  if (general && errors.general) {
    general.textContent = errors.general;
    general.hidden = false;
  }
  (first ?? general)?.focus();
}

export function formError(): HTMLElement {
  return h('p', { class: 'form-error', role: 'alert', tabindex: '-1', hidden: true });
}

/** Value of a named control, trimmed; '' when absent. */
export function formValue(form: HTMLFormElement, name: string): string {
  const control = form.elements.namedItem(name);
  if (control instanceof HTMLInputElement || control instanceof HTMLSelectElement || control instanceof HTMLTextAreaElement) {
    return control.value.trim();
  }
  return '';
}

export function numberOrNull(text: string): number | null {
  if (text === '') return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

/** Once the user edits a field, its old error no longer applies. */
export function formLiveClear(form: HTMLFormElement): void {
  const clearField = (event: Event): void => {
    const field = (event.target as Element | null)?.closest('.field');
    const slot = field?.querySelector<HTMLElement>('.field-error');
    if (slot) slot.textContent = '';
    field?.querySelector('[aria-invalid]')?.removeAttribute('aria-invalid');
  };
  form.addEventListener('input', clearField);
  form.addEventListener('change', clearField);
}
