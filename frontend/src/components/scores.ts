/** The score panel: value and category, the inputs used with their dates, and what is missing. */

import type { Modifier, ScoreInputUsed, ScoreResult, ScoresResponse } from '../api/types';
import { h } from '../lib/dom';
import { dateFormat } from '../lib/format';
import { SCORE_INFO, categoryText, inputName, scoreIdsSorted, scoreName, scoreValueText } from '../lib/scores';
import { unitDisplay, valueCensoredFormat } from '../lib/units';
import { stateEmpty } from './states';

const UNDATED = new Set(['age_years', 'sex']);

function inputText(input: ScoreInputUsed): string {
  const value = typeof input.value === 'number'
    ? valueCensoredFormat(input.value, input.comparator)
    : String(input.value ?? '—').replace(/_/g, ' ');
  const unit = input.unit ? ` ${unitDisplay(input.unit)}` : '';
  return `${inputName(input.name)} ${value}${unit}`.trim();
}

/** Per-score inputs carry lab dates; findings get theirs from the record-level list. */
function withDates(inputs: readonly ScoreInputUsed[], all: readonly ScoreInputUsed[]): ScoreInputUsed[] {
  return inputs.map((input) => {
    if (input.date || UNDATED.has(input.name)) return input;
    const match = all.find((a) => (a.name && a.name === input.name) || (input.code && a.code === input.code));
    return match?.date ? { ...input, date: match.date } : input;
  });
}

function dateSpan(inputs: readonly ScoreInputUsed[]): string {
  const dates = inputs.map((i) => i.date).filter((d): d is string => Boolean(d)).sort();
  if (dates.length === 0) return '';
  const first = dateFormat(dates[0]);
  const last = dateFormat(dates[dates.length - 1]);
  return first === last ? first : `${first} – ${last}`;
}

function inputsList(inputs: readonly ScoreInputUsed[]): HTMLElement {
  return h('ul', { class: 'inputs-used' }, ...inputs.map((input) => h('li', null,
    inputText(input),
    input.date ? h('span', { class: 'muted' }, ` · ${dateFormat(input.date)}`) : null,
  )));
}

function scoreRow(id: string, result: ScoreResult, plain: boolean, all: readonly ScoreInputUsed[]): HTMLElement {
  const info = SCORE_INFO[id];
  const inputs = withDates(result.inputs_used, all);
  const head = h('div', { class: 'score-head' },
    h('span', { class: 'score-name', title: info?.about ?? id }, scoreName(id)),
    result.computable
      ? h('span', { class: 'score-value' }, scoreValueText(result.value))
      : h('span', { class: 'score-value muted' }, 'not computable'),
    result.category ? h('span', { class: 'score-category' }, categoryText(id, result.category)) : null,
  );
  const body = h('div', { class: 'score-body' });
  if (plain && info) body.appendChild(h('p', { class: 'plain' }, info.plain));
  if (result.computable && inputs.length) {
    const span = dateSpan(inputs);
    body.appendChild(h('details', null,
      h('summary', null, `Inputs used (${inputs.length})`, span ? h('span', { class: 'muted' }, ` · ${span}`) : null),
      inputsList(inputs),
      !plain && result.citation ? h('p', { class: 'citation' }, result.citation, result.guideline_version ? ` (${result.guideline_version})` : '') : null));
  }
  const censoredNote = result.details?.censored_note;
  if (result.computable && result.censored) {
    body.appendChild(h('p', { class: 'censored', 'data-censored': 'true' },
      h('strong', null, plain ? 'Approximate: ' : 'Censored input: '),
      typeof censoredNote === 'string' ? censoredNote : 'computed from a result reported only as a limit ("<" or ">").'));
  }
  if (result.missing.length) {
    body.appendChild(h('p', { class: 'missing' }, h('strong', null, plain ? 'Needs: ' : 'Missing: '), result.missing.map(inputName).join(', ')));
  }
  return h('li', { class: `score ${result.computable ? 'score-ok' : 'score-missing'}`, 'data-score': id }, head, body);
}

function modifierText(m: Modifier): string {
  const measure = m.measure ? m.measure.replace(/_/g, ' ') : 'effect';
  const estimate = typeof m.estimate === 'number' ? `${m.approximate ? '≈' : ''}${m.estimate}` : '';
  const ci = m.ci_95 && m.ci_95.length === 2 ? ` (95% CI ${m.ci_95[0]}–${m.ci_95[1]})` : '';
  return `${measure} ${estimate}${ci}${m.comparison ? `, ${m.comparison}` : ''}${m.outcome ? ` — ${m.outcome}` : ''}`;
}

function modifiersBlock(modifiers: readonly Modifier[], plain: boolean): HTMLElement | null {
  const present = modifiers.filter((m) => m.present === true);
  const unknown = modifiers.filter((m) => m.present === null);
  if (!present.length && !unknown.length) return null;
  return h('div', { class: 'modifiers', id: 'modifiers' },
    h('h3', null, plain ? 'Things that change your risk' : 'Genetic and lifestyle modifiers'),
    plain ? null : h('p', { class: 'hint' }, 'Documented effects shown beside the validated scores, never folded into them.'),
    present.length
      ? h('ul', null, ...present.map((m) => h('li', { 'data-modifier': m.factor },
        h('strong', null, m.factor), plain ? null : h('span', null, `: ${modifierText(m)}`),
        !plain && m.citation ? h('span', { class: 'citation' }, ` ${m.citation}`) : null)))
      : h('p', { class: 'muted' }, plain ? 'None of the recorded factors applies to you.' : 'None of the recorded factors applies.'),
    unknown.length && !plain
      ? h('details', null, h('summary', null, `Not recorded (${unknown.length})`),
        h('p', { class: 'muted small' }, unknown.map((m) => m.factor).join(' · ')))
      : null,
  );
}

export function scoresRender(data: ScoresResponse, body: HTMLElement, options: { plain?: boolean; groups?: readonly string[] } = {}): void {
  const plain = options.plain ?? false;
  const all = data.inputs_used ?? [];
  let ids = scoreIdsSorted(Object.keys(data.scores));
  if (options.groups) ids = ids.filter((id) => options.groups?.includes(SCORE_INFO[id]?.group ?? 'other'));
  if (ids.length === 0) {
    body.appendChild(stateEmpty('No scores.'));
    return;
  }
  const computable = ids.filter((id) => data.scores[id]?.computable);
  const notComputable = ids.filter((id) => !data.scores[id]?.computable);
  if (computable.length) {
    body.appendChild(h('ul', { class: 'score-list' }, ...computable.map((id) => scoreRow(id, data.scores[id] as ScoreResult, plain, all))));
  } else {
    body.appendChild(stateEmpty(plain ? 'There are not enough results yet to work out your scores.' : 'No score is computable from the record yet.'));
  }
  if (notComputable.length) {
    body.appendChild(h('details', { class: 'scores-missing' },
      h('summary', null, `${notComputable.length} score(s) need more data`),
      h('ul', { class: 'score-list' }, ...notComputable.map((id) => scoreRow(id, data.scores[id] as ScoreResult, plain, all)))));
  }
  if (data.window_days && !plain) {
    body.appendChild(h('p', { class: 'hint' }, `Latest value of each input from the last ${data.window_days} days.`));
  }
  const block = modifiersBlock(data.modifiers ?? [], plain);
  if (block) body.appendChild(block);
}
