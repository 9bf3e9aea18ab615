/**
 * The patient's blood tests: the latest of each with the usual range and what it means, and
 * for each test its history as a small chart with the usual range as a band, in the unit the
 * patient picks (converted by the server's series endpoint), with the same values as a table.
 */

import type { Api } from '../api/client';
import type { LabExplained, PatientResults } from '../api/patientPortal';
import type { Analyte, Observation, ObservationSeries } from '../api/types';
import { h, replace, uid } from '../lib/dom';
import { dateFormat } from '../lib/format';
import { type ReferenceRange, rangeText, unitChoices, unitDisplay, valueFormat } from '../lib/units';
import { explanationMore, meaningBlock } from './patientExplain';
import { stateEmpty, stateFor, stateLoading } from './states';
import { type TrendPoint, seriesRange, trendPoints } from './trend';

const FLAG_WORDS: Readonly<Record<string, string>> = {
  low: 'Below the usual range', high: 'Above the usual range', normal: 'In the usual range', unknown: 'No usual range',
};

const W = 320;
const H = 170;
const PAD = { left: 40, right: 10, top: 12, bottom: 28 };

/** The chart as SVG: scales with its box, so it never widens a phone screen. */
export function trendSvg(points: readonly TrendPoint[], range: ReferenceRange | null, label: string): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const el = <K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] => {
    const node = document.createElementNS(ns, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    return node;
  };
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, class: 'pt-chart', role: 'img', 'aria-label': label });
  const values = points.map((p) => p.value);
  let lo = Math.min(...values, range?.low ?? Infinity);
  let hi = Math.max(...values, range?.high ?? -Infinity);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return svg;
  const pad = (hi - lo || Math.abs(hi) || 1) * 0.15;
  lo = Math.max(0, lo - pad);
  hi += pad;
  const t0 = points[0]?.t ?? 0;
  const t1 = points[points.length - 1]?.t ?? t0;
  const x = (t: number): number => PAD.left + (t1 === t0 ? 0.5 : (t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (v: number): number => PAD.top + (1 - (v - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);
  if (range && (range.low !== null || range.high !== null)) {
    const top = y(range.high ?? hi);
    const bottom = y(range.low ?? lo);
    svg.appendChild(el('rect', { x: PAD.left, y: top, width: W - PAD.left - PAD.right, height: Math.max(0, bottom - top), class: 'pt-chart-band' }));
  }
  svg.appendChild(el('line', { x1: PAD.left, y1: H - PAD.bottom, x2: W - PAD.right, y2: H - PAD.bottom, class: 'pt-chart-axis' }));
  for (const v of [lo, hi]) {
    const text = el('text', { x: PAD.left - 4, y: y(v) + 4, 'text-anchor': 'end', class: 'pt-chart-label' });
    text.textContent = valueFormat(v);
    svg.appendChild(text);
  }
  const first = points[0];
  const last = points[points.length - 1];
  for (const [p, anchor] of [[first, 'start'], [last, 'end']] as const) {
    if (!p || (p === last && p === first && anchor === 'end')) continue;
    const text = el('text', { x: anchor === 'start' ? PAD.left : W - PAD.right, y: H - 8, 'text-anchor': anchor, class: 'pt-chart-label' });
    text.textContent = dateFormat(p.observedAt);
    svg.appendChild(text);
  }
  if (points.length > 1) {
    svg.appendChild(el('polyline', { points: points.map((p) => `${x(p.t).toFixed(1)},${y(p.value).toFixed(1)}`).join(' '), class: 'pt-chart-line' }));
  }
  for (const p of points) {
    const out = p.flag === 'high' || p.flag === 'low';
    svg.appendChild(el('circle', { cx: x(p.t).toFixed(1), cy: y(p.value).toFixed(1), r: out ? 5 : 4, class: out ? 'pt-chart-dot pt-chart-out' : 'pt-chart-dot' }));
  }
  return svg;
}

/** One test's history, drawn when first opened, redrawn when the unit changes. */
class LabTrend {
  readonly element: HTMLDetailsElement;
  private readonly area: HTMLElement;
  private readonly unitSelect: HTMLSelectElement;
  private drawn = false;
  private sequence = 0;

  constructor(private readonly api: Api, private readonly patientId: number, private readonly analyte: Analyte,
    private readonly observations: readonly Observation[], initialUnit: string) {
    const unitId = uid('pt-unit');
    const choices = unitChoices(analyte);
    this.unitSelect = h('select', { id: unitId, name: `unit-${analyte.key}`, class: 'pt-select' },
      ...choices.map((unit) => h('option', { value: unit, selected: unit === initialUnit }, unitDisplay(unit) || 'no unit (ratio)')));
    this.area = h('div', { class: 'pt-trend-area' });
    this.element = h('details', { class: 'pt-trend', 'data-trend': analyte.key },
      h('summary', null, 'How this changed over time'),
      choices.length > 1
        ? h('div', { class: 'pt-unit-field' }, h('label', { for: unitId }, 'Show in'), this.unitSelect)
        : null,
      this.area);
    this.element.addEventListener('toggle', () => {
      if (this.element.open && !this.drawn) void this.draw();
    });
    this.unitSelect.addEventListener('change', () => void this.draw());
  }

  private async draw(): Promise<void> {
    this.drawn = true;
    const ticket = ++this.sequence;
    const unit = this.unitSelect.value || this.analyte.canonical_unit;
    replace(this.area, stateLoading());
    let series: ObservationSeries;
    try {
      series = await this.api.observationSeries(this.patientId, this.analyte.code, unit);
    } catch (error) {
      if (ticket === this.sequence) replace(this.area, stateFor(error, 'The history of this test', () => void this.draw()));
      return;
    }
    if (ticket !== this.sequence) return;
    const range = seriesRange(this.analyte, series, this.observations);
    const points = trendPoints(series, range);
    if (points.length === 0) {
      replace(this.area, stateEmpty('No results to show yet.'));
      return;
    }
    const shownUnit = unitDisplay(series.unit);
    const name = this.analyte.display_name;
    const label = `${name} over time in ${shownUnit || 'ratio'}: ${points.length} result(s); usual range ${rangeText(range, series.unit)}`;
    this.area.dataset.unit = series.unit;
    replace(this.area,
      trendSvg(points, range, label),
      h('p', { class: 'pt-legend' }, h('span', { class: 'pt-legend-band', 'aria-hidden': 'true' }), `Usual range: ${rangeText(range, series.unit)}`,
        h('span', { class: 'pt-legend-out', 'aria-hidden': 'true' }), 'Outside the range'),
      h('table', { class: 'table pt-table' },
        h('caption', { class: 'visually-hidden' }, `${name} results in ${shownUnit || 'ratio'}`),
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Date'), h('th', { scope: 'col', class: 'num' }, `Result${shownUnit ? ` (${shownUnit})` : ''}`), h('th', { scope: 'col' }, 'Range'))),
        h('tbody', null, ...[...points].reverse().map((p) => h('tr', null,
          h('td', null, dateFormat(p.observedAt)),
          h('td', { class: 'num pt-trend-value' }, valueFormat(p.value)),
          h('td', null, p.flag === 'high' ? 'above' : p.flag === 'low' ? 'below' : p.flag === 'normal' ? 'usual' : '—')))),
      ));
  }
}

function labItem(lab: LabExplained, trend: LabTrend | null): HTMLElement {
  const { explanation } = lab;
  const flag = explanation.flag ?? 'unknown';
  const name = explanation.name ?? lab.analyte;
  return h('li', { class: `pt-lab pt-flag-${flag}`, 'data-analyte': lab.analyte },
    h('div', { class: 'pt-lab-head' },
      h('h3', null, name),
      h('p', { class: 'pt-lab-value' }, h('strong', null, valueFormat(lab.value)), ' ', unitDisplay(lab.unit), h('span', { class: 'muted' }, ` · ${dateFormat(lab.observed_at)}`)),
    ),
    h('p', { class: 'pt-lab-range' },
      h('span', { class: `pt-flag pt-flag-text-${flag}` }, FLAG_WORDS[flag] ?? ''),
      lab.range ? ` · usual range ${rangeText(lab.range, lab.range.unit)}` : ''),
    meaningBlock(explanation),
    explanationMore(explanation, name),
    trend?.element ?? null,
  );
}

export function labsRender(results: PatientResults, body: HTMLElement, context: {
  api: Api; patientId: number; analytes: readonly Analyte[]; observations: readonly Observation[];
}): void {
  if (results.labs.length === 0) {
    body.appendChild(stateEmpty('No blood test results are recorded yet.'));
    return;
  }
  body.appendChild(h('ul', { class: 'pt-labs' }, ...results.labs.map((lab) => {
    const analyte = context.analytes.find((a) => a.key === lab.analyte);
    const own = context.observations.filter((o) => o.code === lab.code);
    const trend = analyte && own.length ? new LabTrend(context.api, context.patientId, analyte, own, lab.unit || analyte.canonical_unit) : null;
    return labItem(lab, trend);
  })));
}
