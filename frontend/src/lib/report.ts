/** Reading the versioned report content (schema cdss.report/1) defensively. Pure. */

export interface Contribution {
  readonly feature: string;
  readonly value: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Feature contributions arrive as {feature: value}, as [{feature|name, value|contribution}],
 * or as [[name, value]]. Returned sorted by absolute size, largest first.
 */
export function contributionsParse(raw: unknown): Contribution[] {
  const out: Contribution[] = [];
  if (Array.isArray(raw)) {
    for (const item of raw) {
      if (Array.isArray(item) && typeof item[0] === 'string' && typeof item[1] === 'number') {
        out.push({ feature: item[0], value: item[1] });
      } else if (isRecord(item)) {
        const feature = item.feature ?? item.name ?? item.key;
        const value = item.value ?? item.contribution ?? item.log_odds ?? item.weight;
        if (typeof feature === 'string' && typeof value === 'number' && Number.isFinite(value)) out.push({ feature, value });
      }
    }
  } else if (isRecord(raw)) {
    for (const [feature, value] of Object.entries(raw)) {
      if (typeof value === 'number' && Number.isFinite(value)) out.push({ feature, value });
    }
  }
  return out.sort((a, b) => Math.abs(b.value) - Math.abs(a.value));
}

export interface ModelRef {
  readonly key: string;
  readonly version: string;
  readonly sha256: string | null;
  readonly extra: Record<string, unknown>;
}

export function modelsParse(raw: unknown): ModelRef[] {
  if (!Array.isArray(raw)) return [];
  const models: ModelRef[] = [];
  for (const item of raw) {
    if (typeof item === 'string') {
      models.push({ key: item, version: '', sha256: null, extra: {} });
    } else if (isRecord(item)) {
      const key = String(item.key ?? item.name ?? item.model ?? 'model');
      const version = String(item.version ?? '');
      const sha = item.weights_sha256 ?? item.sha256 ?? item.hash ?? null;
      const { key: _k, name: _n, version: _v, weights_sha256: _w, sha256: _s, ...extra } = item;
      models.push({ key, version, sha256: typeof sha === 'string' ? sha : null, extra });
    }
  }
  return models;
}

export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function asRecord(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}

export function asText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** {"value": 12.5, "unit": "mL"} -> "12.5 mL"; other values as text. */
export function measureText(value: unknown): string {
  if (isRecord(value) && 'value' in value) {
    const unit = typeof value.unit === 'string' ? ` ${value.unit}` : '';
    return value.value === null || value.value === undefined ? '—' : `${asText(value.value)}${unit}`;
  }
  if (Array.isArray(value)) return value.map(asText).join('–');
  return asText(value);
}

export interface AiFindingsBlock {
  readonly title: string;
  readonly summary: readonly (readonly [string, string])[];
  readonly lesions: readonly { readonly id: string; readonly cells: readonly (readonly [string, string])[] }[];
}

const LESION_FIELDS: readonly (readonly [string, string])[] = [
  ['longest_axial_diameter', 'Diameter'], ['volume', 'Volume'], ['mean_density', 'Density'], ['slice_range', 'Slices'],
  ['confidence', 'Confidence'],
];

/** The imaging findings a report holds for one series, ready for the viewer's AI panel. */
export function aiFindingsFromReport(content: unknown, seriesUid: string, reportLabel: string): AiFindingsBlock[] {
  const blocks: AiFindingsBlock[] = [];
  for (const raw of asArray(asRecord(content).imaging_findings)) {
    const finding = asRecord(raw);
    if (finding.series_uid !== seriesUid) continue;
    const model = asRecord(finding.model);
    const body = asRecord(finding.findings);
    const summary: [string, string][] = [];
    const liver = asRecord(body.liver);
    if (Object.keys(liver).length) {
      summary.push(['Liver volume', measureText(liver.volume)], ['Liver density', measureText(liver.mean_density)]);
    }
    if (typeof body.lesion_count === 'number') summary.push(['Lesions', String(body.lesion_count)]);
    for (const prediction of asArray(body.predictions)) {
      const p = asRecord(prediction);
      summary.push([asText(p.label ?? p.class ?? 'prediction'), asText(p.probability ?? p.score ?? p.value)]);
    }
    const lesions = asArray(body.lesions).map((lesionRaw, index) => {
      const lesion = asRecord(lesionRaw);
      return {
        id: asText(lesion.id ?? index + 1),
        cells: LESION_FIELDS.filter(([key]) => key in lesion).map(([key, label]) => [label, measureText(lesion[key])] as const),
      };
    });
    const modelName = [asText(model.key), model.version ? `v${asText(model.version)}` : ''].filter(Boolean).join(' ');
    blocks.push({ title: `${reportLabel}${modelName ? ` · ${modelName}` : ''}`, summary, lesions });
  }
  return blocks;
}
