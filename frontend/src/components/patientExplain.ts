/** One explanation as a patient reads it: the meaning first, then what it measures, what
 *  usually happens next, questions to ask and the source, folded so a phone screen stays short. */

import type { Explanation } from '../api/patientPortal';
import { h } from '../lib/dom';

export function explanationMore(explanation: Explanation, label: string): HTMLElement | null {
  if (!explanation.explained) return null;
  const parts: HTMLElement[] = [];
  if (explanation.measures) parts.push(h('h4', null, 'What it measures'), h('p', null, explanation.measures));
  if (explanation.next) parts.push(h('h4', null, 'What usually happens next'), h('p', null, explanation.next));
  if (explanation.questions?.length) {
    parts.push(h('h4', null, 'Questions you could ask'), h('ul', { class: 'pt-questions' }, ...explanation.questions.map((q) => h('li', null, q))));
  }
  if (explanation.citation) parts.push(h('p', { class: 'pt-source' }, 'Source: ', explanation.citation));
  if (!parts.length) return null;
  return h('details', { class: 'pt-more' }, h('summary', null, `More about ${label}`), ...parts);
}

export function meaningBlock(explanation: Explanation): HTMLElement {
  return h('p', { class: explanation.explained ? 'pt-meaning' : 'pt-meaning pt-unexplained' }, explanation.meaning);
}
