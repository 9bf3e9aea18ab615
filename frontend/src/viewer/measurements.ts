/**
 * The measurements table: every length and ROI drawn in this viewer, with HU statistics for
 * ROIs (mean, SD, min, max, area). Listens to Cornerstone annotation events.
 */

import { eventTarget } from '@cornerstonejs/core';
import { Enums as ToolEnums, annotation } from '@cornerstonejs/tools';
import { h, replace } from '../lib/dom';
import type { ViewerModule } from './module';

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
  private readonly onChange = (): void => this.refresh();
  private readonly events = [
    ToolEnums.Events.ANNOTATION_COMPLETED, ToolEnums.Events.ANNOTATION_MODIFIED, ToolEnums.Events.ANNOTATION_REMOVED,
  ];

  constructor() {
    this.body = h('div', { class: 'measure-body', 'aria-live': 'polite' });
    const clearButton = h('button', { type: 'button', class: 'btn btn-small btn-quiet' }, 'Clear all');
    clearButton.addEventListener('click', () => {
      annotation.state.removeAllAnnotations();
      this.refresh();
    });
    this.element = h('section', { class: 'panel', 'aria-labelledby': 'measure-title', id: 'measurements' },
      h('header', { class: 'panel-head' }, h('h2', { id: 'measure-title' }, 'Measurements'), clearButton), this.body);
  }

  init(): void {
    for (const name of this.events) eventTarget.addEventListener(name, this.onChange);
    this.refresh();
  }

  rows(): MeasurementRow[] {
    const rows: MeasurementRow[] = [];
    for (const item of annotation.state.getAllAnnotations()) {
      const tool = item.metadata?.toolName ?? '';
      if (!(tool in TOOL_LABEL)) continue;
      const cached = (item.data as { cachedStats?: Record<string, Stats> }).cachedStats ?? {};
      const stats = Object.values(cached)[0] ?? {};
      rows.push({ uid: item.annotationUID ?? '', tool, label: TOOL_LABEL[tool] ?? tool, stats });
    }
    return rows;
  }

  refresh(): void {
    const rows = this.rows();
    if (rows.length === 0) {
      replace(this.body, h('p', { class: 'muted small' }, 'Draw with the length or ROI tools; results appear here.'));
      return;
    }
    replace(this.body, h('table', { class: 'table compact measure-table' },
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, '#'), h('th', { scope: 'col' }, 'Tool'), h('th', { scope: 'col' }, 'Result'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      h('tbody', null, ...rows.map((row, index) => {
        const remove = h('button', { type: 'button', class: 'btn btn-small btn-quiet', 'aria-label': `Delete measurement ${index + 1}` }, '✕');
        remove.addEventListener('click', () => {
          annotation.state.removeAnnotation(row.uid);
          this.refresh();
          this.rerender();
        });
        return h('tr', { 'data-tool': row.tool }, h('td', null, String(index + 1)), h('td', null, row.label),
          h('td', { class: 'measure-value' }, measurementText(row)), h('td', null, remove));
      })),
    ));
  }

  /** Ask the viewports to redraw annotations (after a removal from the table). */
  rerender: () => void = () => undefined;

  destroy(): void {
    for (const name of this.events) eventTarget.removeEventListener(name, this.onChange);
    annotation.state.removeAllAnnotations();
  }
}
