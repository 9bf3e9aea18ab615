/** The score panel: value and category, the inputs used with their dates, and what is missing. */

import type { ScoreInputUsed, ScoreResult, ScoresResponse } from '../api/types';
import { h } from '../lib/dom';
import { dateFormat } from '../lib/format';
import { SCORE_INFO, inputName, scoreIdsSorted, scoreName, scoreValueText } from '../lib/scores';
import { unitDisplay, valueFormat } from '../lib/units';
import { stateEmpty } from './states';

function inputText(input: ScoreInputUsed): string {
  const value = typeof input.value === 'number' ? valueFormat(input.value) : String(input.value ?? '—');
  const unit = input.unit ? ` ${unitDisplay(input.unit)}` : '';
  return `${inputName(input.name)} ${value}${unit}`.trim();
}

function inputsList(inputs: readonly ScoreInputUsed[]): HTMLElement {
  return h('ul', { class: 'inputs-used' }, ...inputs.map((input) => h('li', null,
    inputText(input),
    input.date ? h('span', { class: 'muted' }, ` · ${dateFormat(input.date)}`) : h('span', { class: 'muted' }, ' · undated'),
  )));
}

function scoreRow(id: string, result: ScoreResult, plain: boolean): HTMLElement {
  const info = SCORE_INFO[id];
  const head = h('div', { class: 'score-head' },
    h('span', { class: 'score-name', title: info?.about ?? id }, scoreName(id)),
    result.computable
      ? h('span', { class: 'score-value' }, scoreValueText(result.value))
      : h('span', { class: 'score-value muted' }, 'not computable'),
    result.category ? h('span', { class: 'score-category' }, result.category) : null,
  );
  const body = h('div', { class: 'score-body' });
  if (plain && info) body.appendChild(h('p', { class: 'plain' }, info.plain));
  if (result.computable && result.inputs_used.length) {
    body.appendChild(h('details', null, h('summary', null, `Inputs used (${result.inputs_used.length})`), inputsList(result.inputs_used)));
  }
  if (result.missing.length) {
    body.appendChild(h('p', { class: 'missing' }, h('strong', null, plain ? 'Needs: ' : 'Missing: '), result.missing.map(inputName).join(', ')));
  }
  if (!plain && result.citation) body.appendChild(h('p', { class: 'citation' }, result.citation, result.guideline_version ? ` (${result.guideline_version})` : ''));
  return h('li', { class: `score ${result.computable ? 'score-ok' : 'score-missing'}`, 'data-score': id }, head, body);
}

export function scoresRender(data: ScoresResponse, body: HTMLElement, options: { plain?: boolean; groups?: readonly string[] } = {}): void {
  const plain = options.plain ?? false;
  let ids = scoreIdsSorted(Object.keys(data.scores));
  if (options.groups) ids = ids.filter((id) => options.groups?.includes(SCORE_INFO[id]?.group ?? 'other'));
  if (ids.length === 0) {
    body.appendChild(stateEmpty('No scores.'));
    return;
  }
  const computable = ids.filter((id) => data.scores[id]?.computable);
  const notComputable = ids.filter((id) => !data.scores[id]?.computable);
  if (computable.length) {
    body.appendChild(h('ul', { class: 'score-list' }, ...computable.map((id) => scoreRow(id, data.scores[id] as ScoreResult, plain))));
  } else {
    body.appendChild(stateEmpty(plain ? 'There are not enough results yet to work out your scores.' : 'No score is computable from the record yet.'));
  }
  if (notComputable.length) {
    body.appendChild(h('details', { class: 'scores-missing' },
      h('summary', null, `${notComputable.length} score(s) need more data`),
      h('ul', { class: 'score-list' }, ...notComputable.map((id) => scoreRow(id, data.scores[id] as ScoreResult, plain)))));
  }
  if (data.modifiers && data.modifiers.length) {
    body.appendChild(h('div', { class: 'modifiers' },
      h('h3', null, plain ? 'Things that change your risk' : 'Genetic and lifestyle modifiers (shown beside, never folded into, the scores)'),
      h('ul', null, ...data.modifiers.map((m) => h('li', null,
        h('strong', null, String(m.label ?? m.factor ?? m.id ?? 'modifier')),
        m.statement ? `: ${String(m.statement)}` : '',
        m.relative_risk !== undefined && m.relative_risk !== null ? h('span', { class: 'muted' }, ` (relative risk ${String(m.relative_risk)})`) : null,
        !plain && m.citation ? h('span', { class: 'citation' }, ` ${String(m.citation)}`) : null,
      ))),
    ));
  }
}
