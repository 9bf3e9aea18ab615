/**
 * The measurements table: every length and ROI drawn on the shown series, with HU statistics
 * for ROIs (mean, SD, min, max, area). Listens to Cornerstone annotation events.
 *
 * Annotations keep their points in world (patient) coordinates in Cornerstone's annotation
 * state, which outlives viewports: a measurement drawn in the single view is drawn again in
 * the MPR view of the same plane and back. Each belongs to the series it was drawn on; those
 * of other series are hidden while another series is shown, and come back with it.
 */

import { eventTarget } from '@cornerstonejs/core';
import { Enums as ToolEnums, annotation } from '@cornerstonejs/tools';
import { h, replace } from '../lib/dom';
import type { ViewerModule } from './module';
import { directionLabel } from './orientation';

interface Stats {
  length?: number;
  unit?: string;
  mean?: number;
  stdDev?: number;
  min?: number;
  max?: number;
  area?: number;
  areaUnit?: string;
  modalityUnit?: string;
  value?: number | number[];
}

export interface MeasurementRow {
  readonly uid: string;
  readonly tool: string;
  readonly label: string;
  readonly stats: Stats;
  /** The plane it was drawn on (Axial, Sagittal, Coronal, Oblique) and its first point (world, mm). */
  readonly plane: string;
  readonly normal: readonly number[] | null;
  readonly point: readonly number[] | null;
}

/** The anatomical plane a view normal shows. Pure. */
export function planeName(normal: readonly number[] | null | undefined): string {
  if (!normal) return 'Image';
  const axis = directionLabel(normal);
  if (axis.length !== 1) return 'Oblique';
  return axis === 'S' || axis === 'I' ? 'Axial' : axis === 'L' || axis === 'R' ? 'Sagittal' : 'Coronal';
}

const TOOL_LABEL: Readonly<Record<string, string>> = {
  Length: 'Length', EllipticalROI: 'Ellipse ROI', RectangleROI: 'Rectangle ROI', Probe: 'Probe',
};

const fixed = (value: number | undefined, digits = 1): string => (typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '—');

export function measurementText(row: MeasurementRow): string {
  const s = row.stats;
  if (row.tool === 'Length') return `${fixed(s.length)} ${s.unit ?? 'mm'}`;
  if (row.tool === 'Probe') return `${Array.isArray(s.value) ? s.value.map((v) => fixed(v, 0)).join(', ') : fixed(s.value, 0)} ${s.modalityUnit ?? ''}`.trim();
  const unit = s.modalityUnit ?? '';
  return `mean ${fixed(s.mean)} ${unit}, SD ${fixed(s.stdDev)} ${unit}, min ${fixed(s.min, 0)}, max ${fixed(s.max, 0)}, area ${fixed(s.area)} ${s.areaUnit ?? 'mm²'}`;
}

export class MeasurementsModule implements ViewerModule {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private readonly onChange = (event: Event): void => {
    const uid = (event as CustomEvent<{ annotation?: { annotationUID?: string } }>).detail?.annotation?.annotationUID;
    if (uid && this.series !== null && !this.seriesOf.has(uid)) this.seriesOf.set(uid, this.series);
    this.refresh();
  };
  private readonly events = [
    ToolEnums.Events.ANNOTATION_ADDED, ToolEnums.Events.ANNOTATION_COMPLETED, ToolEnums.Events.ANNOTATION_MODIFIED, ToolEnums.Events.ANNOTATION_REMOVED,
  ];
  /** The series each annotation was drawn on. */
  private readonly seriesOf = new Map<string, string>();
  private series: string | null = null;
  /** Bring a measurement into view (the viewer picks or makes a viewport of its plane). */
  onShow: (row: MeasurementRow) => void = () => undefined;

  constructor() {
    this.body = h('div', { class: 'measure-body', 'aria-live': 'polite' });
    const clearButton = h('button', { type: 'button', class: 'btn btn-small btn-quiet' }, 'Clear all');
    clearButton.title = 'Delete the measurements of the shown series';
    clearButton.addEventListener('click', () => {
      for (const row of this.rows()) {
        annotation.state.removeAnnotation(row.uid);
        this.seriesOf.delete(row.uid);
      }
      this.refresh();
      this.rerender();
    });
    this.element = h('section', { class: 'panel', 'aria-labelledby': 'measure-title', id: 'measurements' },
      h('header', { class: 'panel-head' }, h('h2', { id: 'measure-title' }, 'Measurements'), clearButton), this.body);
  }

  init(): void {
    for (const name of this.events) eventTarget.addEventListener(name, this.onChange);
    this.refresh();
  }

  /** The shown series changed: its measurements are drawn and listed, the others hidden. */
  setSeries(seriesUid: string): void {
    this.series = seriesUid;
    for (const item of annotation.state.getAllAnnotations()) {
      const uid = item.annotationUID;
      if (!uid) continue;
      const owner = this.seriesOf.get(uid);
      if (owner === undefined) this.seriesOf.set(uid, seriesUid);
      annotation.visibility.setAnnotationVisibility(uid, (owner ?? seriesUid) === seriesUid);
    }
    this.refresh();
  }

  private rowOf(item: ReturnType<typeof annotation.state.getAllAnnotations>[number]): MeasurementRow | null {
    const tool = item.metadata?.toolName ?? '';
    if (!(tool in TOOL_LABEL)) return null;
    const cached = (item.data as { cachedStats?: Record<string, Stats> }).cachedStats ?? {};
    const stats = Object.values(cached)[0] ?? {};
    const normal = (item.metadata?.viewPlaneNormal as readonly number[] | undefined) ?? null;
    const point = (item.data as { handles?: { points?: readonly (readonly number[])[] } }).handles?.points?.[0] ?? null;
    return { uid: item.annotationUID ?? '', tool, label: TOOL_LABEL[tool] ?? tool, stats, plane: planeName(normal), normal, point };
  }

  /** Measurements of the shown series. */
  rows(): MeasurementRow[] {
    const rows: MeasurementRow[] = [];
    for (const item of annotation.state.getAllAnnotations()) {
      if (this.series !== null && (this.seriesOf.get(item.annotationUID ?? '') ?? this.series) !== this.series) continue;
      const row = this.rowOf(item);
      if (row) rows.push(row);
    }
    return rows;
  }

  /** How many measurements other series of the study hold. */
  private elsewhere(): number {
    return annotation.state.getAllAnnotations().filter((item) => {
      const owner = this.seriesOf.get(item.annotationUID ?? '');
      return owner !== undefined && owner !== this.series && (item.metadata?.toolName ?? '') in TOOL_LABEL;
    }).length;
  }

  refresh(): void {
    const rows = this.rows();
    const others = this.elsewhere();
    this.element.dataset.count = String(rows.length);
    const note = others ? h('p', { class: 'muted small measure-elsewhere' }, `${others} more on other series of this study.`) : null;
    if (rows.length === 0) {
      replace(this.body, h('p', { class: 'muted small' }, 'Draw with the length or ROI tools; results appear here.'), note);
      return;
    }
    replace(this.body, h('table', { class: 'table compact measure-table' },
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, '#'), h('th', { scope: 'col' }, 'Tool'), h('th', { scope: 'col' }, 'Result'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      h('tbody', null, ...rows.map((row, index) => {
        const show = h('button', { type: 'button', class: 'btn btn-small btn-quiet measure-show', 'aria-label': `Show measurement ${index + 1}` }, 'Show');
        show.addEventListener('click', () => this.onShow(row));
        const remove = h('button', { type: 'button', class: 'btn btn-small btn-quiet', 'aria-label': `Delete measurement ${index + 1}` }, '✕');
        remove.addEventListener('click', () => {
          annotation.state.removeAnnotation(row.uid);
          this.seriesOf.delete(row.uid);
          this.refresh();
          this.rerender();
        });
        return h('tr', { 'data-tool': row.tool, 'data-plane': row.plane, 'data-annotation': row.uid }, h('td', null, String(index + 1)),
          h('td', null, row.label, h('br'), h('span', { class: 'muted small' }, row.plane)),
          h('td', { class: 'measure-value' }, measurementText(row)), h('td', { class: 'measure-actions' }, show, remove));
      })),
    ), note);
  }

  /** Ask the viewports to redraw annotations (after a removal from the table). */
  rerender: () => void = () => undefined;

  destroy(): void {
    for (const name of this.events) eventTarget.removeEventListener(name, this.onChange);
    annotation.state.removeAllAnnotations();
    this.seriesOf.clear();
  }
}
