/**
 * The patient page's lung nodule card: the record's nodules (typed, or accepted from the
 * lung_nodule_ct model's findings) and Lung-RADS v2022, Brock (PanCan) and Fleischner 2017
 * computed from them, each naming the nodule it refers to.
 */

import { listOf } from '../api/client';
import type { Http } from '../api/http';
import type { Page } from '../api/types';
import { h, replace } from '../lib/dom';
import { Card } from './card';
import { stateEmpty } from './states';

export interface LungNoduleRow {
  readonly id: number;
  readonly observed_on: string;
  readonly nodule_type: string;
  readonly long_axis_mm: number | null;
  readonly short_axis_mm: number | null;
  readonly mean_diameter_mm: number | null;
  readonly volume_mm3: number | null;
  readonly calcified: boolean | null;
  readonly upper_lobe: boolean | null;
  readonly model_key: string;
  readonly model_version: string;
}

interface NoduleRef { readonly record_id: number; readonly long_axis_mm: number | null; readonly type: string; readonly observed_on: string }

interface LungScore {
  readonly computable: boolean;
  readonly value: unknown;
  readonly category: string | null;
  readonly missing?: readonly string[];
  readonly reason?: string | null;
  readonly details?: { readonly nodule?: NoduleRef | null; readonly management_text?: string };
}

export interface LungNoduleData {
  readonly nodules: LungNoduleRow[];
  readonly scores: Readonly<Record<string, LungScore | undefined>>;
}

const SCORES: readonly (readonly [string, string])[] = [['lung_rads', 'Lung-RADS v2022'], ['brock', 'Brock (PanCan)'], ['fleischner', 'Fleischner 2017']];
const TYPE_LABEL: Readonly<Record<string, string>> = { solid: 'solid', part_solid: 'part-solid', non_solid: 'ground-glass' };
const mm = (v: number | null): string => (v == null ? '—' : `${v.toFixed(1)} mm`);
const yesNo = (v: boolean | null): string => (v == null ? 'unknown' : v ? 'yes' : 'no');

/** One score's line: its value, and the nodule it refers to. Pure. */
export function lungScoreText(label: string, score: LungScore | undefined): string {
  if (!score) return `${label}: not evaluated`;
  if (!score.computable) {
    const why = score.missing?.length ? `missing ${score.missing.join(', ')}` : (score.reason ?? '');
    return why ? `${label}: not computable (${why})` : `${label}: not computable`;
  }
  const value = typeof score.value === 'number' ? `${(score.value * 100).toFixed(1)} %` : String(score.category ?? score.value);
  const nodule = score.details?.nodule;
  return nodule
    ? `${label}: ${value} — nodule #${nodule.record_id} (${TYPE_LABEL[nodule.type] ?? nodule.type}, ${mm(nodule.long_axis_mm)}, ${nodule.observed_on})`
    : `${label}: ${value}`;
}

export function lungNodulesRender(data: LungNoduleData, body: HTMLElement): void {
  if (!data.nodules.length) {
    replace(body, stateEmpty('No lung nodule in the record.'));
    return;
  }
  const table = h('table', { class: 'table lung-nodules' },
    h('thead', null, h('tr', null, ...['#', 'Date', 'Type', 'Long', 'Short', 'Mean', 'Volume', 'Upper lobe', 'Calcified', 'Source'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, ...data.nodules.map((n) => h('tr', { 'data-nodule': String(n.id) },
      h('td', null, `#${n.id}`), h('td', null, n.observed_on), h('td', null, TYPE_LABEL[n.nodule_type] ?? n.nodule_type),
      h('td', null, mm(n.long_axis_mm)), h('td', null, mm(n.short_axis_mm)), h('td', null, mm(n.mean_diameter_mm)),
      h('td', null, n.volume_mm3 == null ? '—' : `${Math.round(n.volume_mm3)} mm³`), h('td', null, yesNo(n.upper_lobe)),
      h('td', null, yesNo(n.calcified)), h('td', null, n.model_key ? `${n.model_key} ${n.model_version} (accepted)` : 'clinician'),
    ))),
  );
  const scores = h('ul', { class: 'lung-scores' },
    ...SCORES.map(([id, label]) => h('li', { 'data-score': id }, lungScoreText(label, data.scores[id]))));
  replace(body, table, scores);
}

/** The card; it loads itself. */
export function lungNodulesCard(api: { readonly http: Http }, patientId: number): Card<LungNoduleData> {
  const card = new Card<LungNoduleData>({
    id: 'card-lung-nodules', title: 'Lung nodules', what: 'Lung nodules', className: 'card-wide',
    load: async () => {
      const [rows, scores] = await Promise.all([
        api.http.get<Page<LungNoduleRow>>(`/patients/${patientId}/lung-nodules/`),
        api.http.get<{ response: { scores: Record<string, LungScore> } }>(`/patients/${patientId}/scores/`, { scores: 'lung_rads,brock,fleischner' }),
      ]);
      return { nodules: listOf(rows), scores: scores.response.scores };
    },
    render: lungNodulesRender,
  });
  void card.reload();
  return card;
}
