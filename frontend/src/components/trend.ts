/**
 * The trend chart: one analyte at a time, with a unit switch, the reference range as a band,
 * out-of-range points in red, and the same values as a table for screen readers.
 * uPlot is loaded on first use (its own chunk).
 */

import type uPlotType from 'uplot';
import type { Api } from '../api/client';
import type { Analyte, Observation, ObservationSeries } from '../api/types';
import { h, replace, uid } from '../lib/dom';
import { dateFormat } from '../lib/format';
import { type ReferenceRange, factorFromPairs, rangeFlag, rangeScale, unitChoices, unitDisplay, unitNormalise, valueFormat } from '../lib/units';
import { type LabData, observationsByAnalyte } from './labs';
import { stateEmpty, stateFor, stateLoading } from './states';

type UPlot = typeof uPlotType;
let uplotModule: Promise<UPlot> | null = null;

function uplotLoad(): Promise<UPlot> {
  uplotModule ??= Promise.all([import('uplot'), import('uplot/dist/uPlot.min.css')]).then(([mod]) => mod.default);
  return uplotModule;
}

export interface TrendPoint {
  readonly t: number;
  readonly value: number;
  readonly observedAt: string;
  readonly flag: 'low' | 'high' | 'normal' | 'unknown';
}

/**
 * The catalogue's reference range (canonical unit) in the series' unit. The factor is read
 * back from the server's own conversion of the same observations, never assumed.
 */
export function seriesRange(analyte: Analyte, series: ObservationSeries, observations: readonly Observation[]): ReferenceRange | null {
  const range = analyte.reference_range;
  if (!range) return null;
  if (unitNormalise(series.unit) === unitNormalise(analyte.canonical_unit)) return range;
  const byId = new Map(observations.map((o) => [o.id, o]));
  const pairs = series.points.flatMap((p) => {
    const observation = byId.get(p.id);
    return observation ? [{ canonical: observation.value_canonical, converted: p.value }] : [];
  });
  const factor = factorFromPairs(pairs);
  return factor === null ? null : rangeScale(range, factor);
}

export function trendPoints(series: ObservationSeries, range: ReferenceRange | null): TrendPoint[] {
  return series.points
    .map((p) => ({ t: Date.parse(p.observed_at) / 1000, value: p.value, observedAt: p.observed_at, flag: rangeFlag(p.value, range) }))
    .sort((a, b) => a.t - b.t);
}

export class TrendChart {
  readonly element: HTMLElement;
  private readonly analyteSelect: HTMLSelectElement;
  private readonly unitSelect: HTMLSelectElement;
  private readonly plotArea: HTMLElement;
  private readonly tableArea: HTMLElement;
  private data: LabData | null = null;
  private chart: uPlotType | null = null;
  private resize: ResizeObserver | null = null;
  private readonly unitByAnalyte = new Map<string, string>();
  private destroyed = false;

  private readonly api: Api;
  private readonly patientId: number;
  private sequence = 0;

  constructor(api: Api, patientId: number, options: { plain?: boolean } = {}) {
    this.api = api;
    this.patientId = patientId;
    const analyteId = uid('trend-analyte');
    const unitId = uid('trend-unit');
    this.analyteSelect = h('select', { id: analyteId, name: 'trend-analyte' });
    this.unitSelect = h('select', { id: unitId, name: 'trend-unit' });
    this.plotArea = h('div', { class: 'trend-plot', role: 'img', 'aria-label': 'Trend chart' });
    this.tableArea = h('div', { class: 'trend-table' });
    this.element = h('div', { class: 'trend' },
      h('div', { class: 'trend-controls' },
        h('div', { class: 'field inline' }, h('label', { for: analyteId }, options.plain ? 'Test' : 'Analyte'), this.analyteSelect),
        h('div', { class: 'field inline' }, h('label', { for: unitId }, 'Unit'), this.unitSelect),
        h('span', { class: 'legend' },
          h('span', { class: 'legend-band', 'aria-hidden': 'true' }), options.plain ? 'usual range' : 'reference range',
          h('span', { class: 'legend-dot legend-out', 'aria-hidden': 'true' }), 'outside the range'),
      ),
      this.plotArea,
      h('details', { class: 'trend-details' }, h('summary', null, 'Show values as a table'), this.tableArea),
    );
    this.analyteSelect.addEventListener('change', () => {
      this.fillUnits();
      void this.draw();
    });
    this.unitSelect.addEventListener('change', () => {
      this.unitByAnalyte.set(this.analyteSelect.value, this.unitSelect.value);
      void this.draw();
    });
  }

  update(data: LabData): void {
    this.data = data;
    const grouped = observationsByAnalyte(data);
    const previous = this.analyteSelect.value;
    const available = data.analytes.filter((a) => (grouped.get(a.key)?.length ?? 0) > 0);
    this.analyteSelect.replaceChildren(...available.map((a) =>
      h('option', { value: a.key, selected: a.key === previous }, `${a.display_name} (${grouped.get(a.key)?.length ?? 0})`)));
    if (!available.some((a) => a.key === previous) && available[0]) this.analyteSelect.value = available[0].key;
    this.fillUnits();
    void this.draw();
  }

  /** Select an analyte programmatically (the liver panel rows link here). */
  show(analyteKey: string): void {
    if ([...this.analyteSelect.options].some((o) => o.value === analyteKey)) {
      this.analyteSelect.value = analyteKey;
      this.fillUnits();
      void this.draw();
    }
  }

  private analyte(): Analyte | undefined {
    return this.data?.analytes.find((a) => a.key === this.analyteSelect.value) as Analyte | undefined;
  }

  private fillUnits(): void {
    const analyte = this.analyte();
    if (!analyte) {
      this.unitSelect.replaceChildren();
      return;
    }
    const chosen = this.unitByAnalyte.get(analyte.key) ?? analyte.canonical_unit;
    this.unitSelect.replaceChildren(...unitChoices(analyte).map((unit) =>
      h('option', { value: unit, selected: unit === chosen }, unitDisplay(unit) || 'ratio (no unit)')));
    this.unitSelect.disabled = this.unitSelect.options.length < 2;
  }

  private async draw(): Promise<void> {
    const analyte = this.analyte();
    const data = this.data;
    const ticket = ++this.sequence;
    this.element.dataset.empty = String(!analyte || !data);
    if (!analyte || !data) {
      this.chart?.destroy();
      this.chart = null;
      replace(this.plotArea, stateEmpty('No results to chart yet.'));
      replace(this.tableArea);
      return;
    }
    const unit = this.unitSelect.value || analyte.canonical_unit;
    if (!this.chart) replace(this.plotArea, stateLoading());
    let series: ObservationSeries;
    let uPlot: UPlot;
    try {
      [series, uPlot] = await Promise.all([this.api.observationSeries(this.patientId, analyte.code, unit), uplotLoad()]);
    } catch (error) {
      if (ticket !== this.sequence || this.destroyed) return;
      this.chart?.destroy();
      this.chart = null;
      replace(this.plotArea, stateFor(error, 'The trend of this test', () => void this.draw()));
      return;
    }
    if (ticket !== this.sequence || this.destroyed) return;
    const range = seriesRange(analyte, series, observationsByAnalyte(data).get(analyte.key) ?? []);
    const points = trendPoints(series, range);
    this.drawTable(analyte, points, series.unit);
    this.plotArea.setAttribute('aria-label', `${analyte.display_name} over time in ${unitDisplay(series.unit) || 'ratio'}: ${points.length} result(s)`);
    this.plotArea.dataset.unit = series.unit;
    this.plotArea.dataset.points = String(points.length);
    this.chart?.destroy();
    this.chart = null;
    replace(this.plotArea);
    const xs = points.map((p) => p.t);
    const ys = points.map((p) => p.value);
    const outs = points.map((p) => (p.flag === 'high' || p.flag === 'low' ? p.value : null));
    const band = (u: uPlotType): void => {
      if (!range || (range.low === null && range.high === null)) return;
      const ctx = u.ctx;
      const top = u.valToPos(range.high ?? (u.scales.y?.max ?? 0), 'y', true);
      const bottom = u.valToPos(range.low ?? (u.scales.y?.min ?? 0), 'y', true);
      ctx.save();
      ctx.fillStyle = 'rgba(38, 128, 72, 0.12)';
      ctx.fillRect(u.bbox.left, top, u.bbox.width, bottom - top);
      ctx.restore();
    };
    const yRange = (_u: uPlotType, min: number, max: number): [number, number] => {
      const lo = Math.min(min, range?.low ?? min);
      const hi = Math.max(max, range?.high ?? max);
      const pad = (hi - lo || Math.abs(hi) || 1) * 0.12;
      return [Math.max(0, lo - pad), hi + pad];
    };
    const xRange = (_u: uPlotType, min: number, max: number): [number, number] => {
      const pad = max - min < 86400 ? 3 * 86400 : (max - min) * 0.05;
      return [min - pad, max + pad];
    };
    const width = Math.max(280, this.plotArea.clientWidth || 600);
    const opts: uPlotType.Options = {
      width,
      height: 240,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true, range: xRange }, y: { range: yRange } },
      axes: [
        { stroke: '#44505c', grid: { stroke: '#e3e7ec' } },
        { stroke: '#44505c', grid: { stroke: '#e3e7ec' }, label: unitDisplay(series.unit) || 'ratio', size: 56 },
      ],
      series: [
        {},
        { label: analyte.display_name, stroke: '#1a5fb4', width: 2, points: { show: true, size: 7, fill: '#1a5fb4' } },
        { label: 'Outside range', stroke: '#b3261e', width: 0, paths: () => null, points: { show: true, size: 10, fill: '#b3261e', stroke: '#fff' } },
      ],
      hooks: { drawClear: [band] },
    };
    this.chart = new uPlot(opts, [xs, ys, outs] as uPlotType.AlignedData, this.plotArea);
    this.resize?.disconnect();
    this.resize = new ResizeObserver(() => {
      const next = Math.max(280, this.plotArea.clientWidth);
      if (this.chart && Math.abs(next - this.chart.width) > 4) this.chart.setSize({ width: next, height: 240 });
    });
    this.resize.observe(this.plotArea);
  }

  private drawTable(analyte: Analyte, points: readonly TrendPoint[], unit: string): void {
    this.tableArea.dataset.unit = unit;
    replace(this.tableArea, h('table', { class: 'table compact', 'data-unit': unit },
      h('caption', null, `${analyte.display_name} (${unitDisplay(unit) || 'ratio'})`),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Date'), h('th', { scope: 'col', class: 'num' }, 'Value'), h('th', { scope: 'col' }, 'Flag'))),
      h('tbody', null, ...[...points].reverse().map((p) => h('tr', { class: `flag-${p.flag}` },
        h('td', null, dateFormat(p.observedAt)),
        h('td', { class: 'num trend-value' }, valueFormat(p.value)),
        h('td', null, p.flag === 'high' ? 'high' : p.flag === 'low' ? 'low' : '')))),
    ));
  }

  destroy(): void {
    this.destroyed = true;
    this.resize?.disconnect();
    this.chart?.destroy();
    this.chart = null;
  }
}
