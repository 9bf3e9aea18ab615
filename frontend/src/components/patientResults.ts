/** The patient's released reports, each score explained; score history; genetic results in words.
 *  Everything shown here comes from GET /patients/{id}/results/, which returns released
 *  reports only: the page never decides what a patient may see. */

import type { GeneticExplained, PatientResults, ReleasedReport, ScoreExplanation, ScoreHistoryPoint } from '../api/patientPortal';
import { h } from '../lib/dom';
import { dateFormat } from '../lib/format';
import { explanationMore, meaningBlock } from './patientExplain';
import { stateEmpty } from './states';

/** A bare code ("1", "A") says nothing on its own: the meaning sentence names it instead. */
function bandLabel(band: string | null | undefined): string | null {
  return band && band.length > 2 ? band.replace(/_/g, ' ') : null;
}

function scoreItem(score: ScoreExplanation): HTMLElement {
  const name = score.name ?? score.score;
  return h('li', { class: 'pt-score', 'data-score': score.score },
    h('div', { class: 'pt-score-head' },
      h('h4', { class: 'pt-score-name' }, name),
      h('span', { class: 'pt-score-value' }, score.value_text ?? String(score.value ?? '')),
      bandLabel(score.band) ? h('span', { class: 'pt-band' }, bandLabel(score.band)) : null,
    ),
    meaningBlock(score),
    explanationMore(score, name),
  );
}

function reportCard(report: ReleasedReport, latest: boolean): HTMLElement {
  const released = report.released_at ?? report.signed_at;
  const { explained } = report;
  const headingId = `pt-report-${report.id}`;
  return h('article', { class: 'pt-report', 'data-report': String(report.id), 'aria-labelledby': headingId },
    h('header', { class: 'pt-report-head' },
      h('h3', { id: headingId }, `Report from ${dateFormat(released)}`),
      h('span', { class: latest ? 'badge badge-current' : 'badge badge-superseded' }, latest ? 'latest' : 'earlier'),
    ),
    h('p', { class: 'muted small' }, `Version ${report.version}, reviewed and released to you by your care team.`),
    explained.scores.length
      ? h('ul', { class: 'pt-score-list' }, ...explained.scores.map(scoreItem))
      : h('p', null, 'This report has no scores to show.'),
    explained.factors.length
      ? h('div', { class: 'pt-factors' }, h('h4', null, 'Things that affect your risk'),
        h('ul', null, ...explained.factors.map((f) => h('li', { 'data-factor': f.factor }, f.meaning))))
      : null,
    explained.topics.length
      ? h('div', { class: 'pt-topics' }, h('h4', null, 'Your care team\'s advice in this report is about'),
        h('ul', null, ...explained.topics.map((t) => h('li', null, t.about))))
      : null,
    explained.computer_analysis ? h('p', { class: 'pt-note' }, explained.computer_analysis) : null,
    h('p', null, h('a', { href: `/reports/${report.id}`, class: 'btn pt-link' }, 'Open the full report')),
  );
}

export function reportsRender(results: PatientResults, body: HTMLElement): void {
  if (results.reports.length === 0) {
    body.appendChild(stateEmpty('Your care team has not released a report to you yet. When they do, it will appear here with an explanation.'));
    return;
  }
  const [latest, ...earlier] = results.reports;
  if (latest) body.appendChild(reportCard(latest, true));
  if (earlier.length) {
    body.appendChild(h('details', { class: 'pt-earlier' },
      h('summary', null, `Earlier reports (${earlier.length})`),
      ...earlier.map((r) => reportCard(r, false))));
  }
}

function historyTable(name: string, points: readonly ScoreHistoryPoint[]): HTMLElement {
  return h('table', { class: 'table pt-table' },
    h('caption', { class: 'visually-hidden' }, `${name} in each released report`),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Date'), h('th', { scope: 'col', class: 'num' }, 'Result'), h('th', { scope: 'col' }, 'Group'))),
    h('tbody', null, ...[...points].reverse().map((p) => h('tr', null,
      h('td', null, dateFormat(p.date)),
      h('td', { class: 'num' }, p.value_text ?? String(p.value ?? '')),
      h('td', null, bandLabel(p.band) ?? '')))));
}

export function scoreHistoryRender(results: PatientResults, body: HTMLElement): void {
  const latest = results.reports[0];
  const ids = Object.keys(results.score_history);
  if (!latest || ids.length === 0) {
    body.appendChild(stateEmpty('Your scores will appear here once your care team releases a report.'));
    return;
  }
  const names = new Map(results.reports.flatMap((r) => r.explained.scores.map((s) => [s.score, s.name ?? s.score] as const)));
  body.appendChild(h('ul', { class: 'pt-history' }, ...ids.map((id) => {
    const points = results.score_history[id] ?? [];
    const last = points[points.length - 1];
    const previous = points.length > 1 ? points[points.length - 2] : undefined;
    const name = names.get(id) ?? id;
    let change = 'First result.';
    if (last && previous) {
      const a = Number(previous.value);
      const b = Number(last.value);
      change = Number.isFinite(a) && Number.isFinite(b)
        ? (b > a ? `Higher than last time (${previous.value_text ?? previous.value}).` : b < a ? `Lower than last time (${previous.value_text ?? previous.value}).` : 'The same as last time.')
        : `Last time: ${bandLabel(previous.band) ?? previous.value_text ?? ''}.`;
    }
    return h('li', { class: 'pt-history-item', 'data-score': id },
      h('h3', null, name),
      h('p', null, h('strong', null, last?.value_text ?? String(last?.value ?? '')), bandLabel(last?.band) ? ` · ${bandLabel(last?.band) ?? ''}` : '', ' ', h('span', { class: 'muted' }, change)),
      points.length > 1 ? historyTable(name, points) : null);
  })));
}

function geneticItem(finding: GeneticExplained): HTMLElement {
  const { explanation } = finding;
  const name = explanation.name ?? finding.gene;
  return h('li', { class: 'pt-gene', 'data-gene': finding.gene },
    h('h3', null, name),
    meaningBlock(explanation),
    explanation.explained
      ? h('p', { class: 'muted small' }, `Tested ${dateFormat(finding.reported_on)}. Laboratory result: ${finding.genotype || 'not stated'}${finding.rsid ? ` (${finding.rsid})` : ''}.`)
      : null,
    explanationMore(explanation, name));
}

export function geneticsRender(results: PatientResults, body: HTMLElement): void {
  if (results.genetics.length === 0) {
    body.appendChild(stateEmpty('No genetic test results are recorded.'));
    return;
  }
  body.appendChild(h('ul', { class: 'pt-genes' }, ...results.genetics.map(geneticItem)));
}
