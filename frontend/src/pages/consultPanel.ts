/**
 * The patient page's consultations card: "Request consultation" (clinicians), this patient's
 * consultations, and the signed opinions that are part of the record.
 */

import type { AppContext } from '../app';
import type { ImagingStudy } from '../api/types';
import { Card } from '../components/card';
import { dialogCreate } from '../components/dialog';
import { stateEmpty } from '../components/states';
import { h } from '../lib/dom';
import { dateTimeFormat } from '../lib/format';
import { ConsultApi, type Consultation, type Opinion, type Urgency, failureText, urgencyLabel } from './consultApi';
import { consultRow } from './consultInbox';
import './consult.css';

interface PanelData {
  readonly consultations: Consultation[];
  readonly opinions: Opinion[];
}

export function opinionElement(opinion: Opinion): HTMLElement {
  return h('article', { class: 'opinion', 'data-opinion': String(opinion.id) },
    h('p', { class: 'opinion-answer' }, opinion.answer),
    opinion.recommendations.length ? h('ul', { class: 'opinion-recs' }, ...opinion.recommendations.map((r) => h('li', null, r))) : null,
    h('p', { class: 'muted small' }, `${urgencyLabel(opinion.urgency)} · signed by ${opinion.author_name} · ${dateTimeFormat(opinion.signed_at)}`));
}

export function consultPanel(ctx: AppContext, patientId: number, options: { canRequest: boolean; studies: () => readonly ImagingStudy[] }): Card<PanelData> {
  const api = new ConsultApi(ctx.api.http);
  const actions: HTMLElement[] = [];
  if (options.canRequest) {
    const button = h('button', { type: 'button', class: 'btn btn-small', id: 'request-consultation' }, 'Request consultation');
    button.addEventListener('click', () => void consultRequestOpen(ctx, patientId, options.studies()).then((made) => {
      if (made) void card.reload(true);
      button.focus();
    }));
    actions.push(button);
  }
  const card: Card<PanelData> = new Card<PanelData>({
    id: 'card-consultations', title: 'Consultations', what: 'Consultations', className: 'card-wide',
    load: async () => {
      const [consultations, opinions] = await Promise.all([api.list(patientId), api.opinions(patientId)]);
      return { consultations, opinions };
    },
    render: (data, body) => {
      body.append(
        data.consultations.length
          ? h('ul', { class: 'consult-list' }, ...data.consultations.map((c) => consultRow(ctx, c, () => void card.reload(true))))
          : stateEmpty('No consultations for this patient.'),
        h('h3', { class: 'panel-title' }, 'Consultant opinions'),
        data.opinions.length
          ? h('div', { class: 'opinion-list', id: 'patient-opinions' }, ...data.opinions.map(opinionElement))
          : h('p', { class: 'muted', id: 'patient-opinions' }, 'No signed opinions yet.'),
      );
    },
    actions,
  });
  return card;
}

function isoIn(hours: number): string {
  return new Date(Date.now() + hours * 3_600_000).toISOString();
}

/** The request form; resolves true once a consultation was requested. */
export async function consultRequestOpen(ctx: AppContext, patientId: number, studies: readonly ImagingStudy[]): Promise<boolean> {
  const api = new ConsultApi(ctx.api.http);
  let directory;
  try {
    directory = await api.directory();
  } catch (error) {
    ctx.announce(failureText(error), 'error');
    return false;
  }
  return new Promise<boolean>((resolve) => {
    let made = false;
    const dialog = dialogCreate('Request a consultation', () => resolve(made));
    const question = h('textarea', { id: 'consult-question', name: 'question', rows: 4, required: true, maxlength: 5000 });
    const urgency = h('select', { id: 'consult-urgency', name: 'urgency' },
      ...(['routine', 'urgent', 'emergency'] as Urgency[]).map((u) => h('option', { value: u }, urgencyLabel(u))));
    const whom = h('select', { id: 'consult-consultant', name: 'consultant', required: true },
      h('option', { value: '' }, 'Choose…'),
      directory.consultants.length ? h('optgroup', { label: 'Consultants' }, ...directory.consultants.map((c) => h('option', { value: `u${c.id}` }, c.name))) : null,
      directory.groups.length ? h('optgroup', { label: 'Groups' }, ...directory.groups.map((g) => h('option', { value: `g${g.id}` }, g.name))) : null);
    const scopeRecord = h('input', { type: 'radio', name: 'scope', value: 'record', id: 'consult-scope-record', checked: true });
    const scopeStudies = h('input', { type: 'radio', name: 'scope', value: 'studies', id: 'consult-scope-studies' });
    const studyBoxes = studies.map((s) => h('input', { type: 'checkbox', value: s.study_instance_uid, class: 'consult-study' }));
    const hours = h('input', { type: 'number', id: 'consult-hours', min: 1, max: 720, value: 48, required: true });
    const identifiable = h('input', { type: 'checkbox', id: 'consult-identifiable' });
    const error = h('p', { class: 'form-error', role: 'alert' });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'consult-submit' }, 'Send request');
    const form = h('form', { class: 'form consult-form' },
      h('label', { for: 'consult-question' }, 'Question (no names or identifiers)'), question,
      h('label', { for: 'consult-urgency' }, 'Urgency'), urgency,
      h('label', { for: 'consult-consultant' }, 'Consultant or group'), whom,
      h('fieldset', null, h('legend', null, 'What is shared'),
        h('label', null, scopeRecord, ' The whole record'),
        h('label', null, scopeStudies, ' Chosen studies only'),
        ...studies.map((s, i) => h('label', { class: 'indent' }, studyBoxes[i], ` ${s.study_date ?? ''} ${s.modalities} ${s.description}`))),
      h('label', { for: 'consult-hours' }, 'Share ends after (hours)'), hours,
      h('label', null, identifiable, ' Share identifiable data (otherwise de-identified)'),
      error, h('div', { class: 'form-actions' }, submit));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const choice = whom.value;
      if (!choice) {
        error.textContent = 'Choose a consultant or a group.';
        return;
      }
      submit.disabled = true;
      const scope = scopeStudies.checked ? 'studies' : 'record';
      void api.request({
        patient: patientId, question: question.value, urgency: urgency.value as Urgency,
        consultant: choice.startsWith('u') ? Number(choice.slice(1)) : null,
        consultant_group: choice.startsWith('g') ? Number(choice.slice(1)) : null,
        scope, study_uids: scope === 'studies' ? studyBoxes.filter((b) => b.checked).map((b) => b.value) : [],
        expires_at: isoIn(Number(hours.value) || 48), identifiable: identifiable.checked,
      }).then(() => {
        made = true;
        ctx.announce('Consultation requested.');
        dialog.close();
      }).catch((failure: unknown) => {
        submit.disabled = false;
        error.textContent = failureText(failure);
      });
    });
    dialog.body.append(form);
    dialog.open();
  });
}
