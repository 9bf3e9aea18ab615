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

/** UCUM units as a reader writes them ("[hnsf'U]" is Hounsfield units). */
const MEASURE_UNITS: Readonly<Record<string, string>> = { "[hnsf'U]": 'HU', '{INR}': '', mm3: 'mm³' };

/** {"value": 12.5, "unit": "mL"} -> "12.5 mL"; other values as text. */
export function measureText(value: unknown): string {
  if (isRecord(value) && 'value' in value) {
    const raw = typeof value.unit === 'string' ? (MEASURE_UNITS[value.unit] ?? value.unit) : '';
    const unit = raw ? ` ${raw}` : '';
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
    // brain_mri_seg: the BraTS regions' volumes and the tumour's side
    const regions = asRecord(body.regions);
    for (const [key, label] of [['whole_tumour', 'Whole tumour'], ['tumour_core', 'Tumour core'], ['enhancing_tumour', 'Enhancing tumour']] as const) {
      if (key in regions) summary.push([label, measureText(asRecord(regions[key]).volume)]);
    }
    const hemisphere = asRecord(body.location).hemisphere;
    if (typeof hemisphere === 'string') summary.push(['Hemisphere', hemisphere]);
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

/**
 * The clinical document the server builds from a report (inference/reports/presentation.py):
 * the same rows the PDF and the printable HTML show, already in words and human units.
 */
export interface DocRow {
  readonly label: string;
  readonly value: string;
}

export interface DocHeader {
  readonly title: string;
  readonly state: string;
  readonly state_label: string;
  readonly version: number;
  readonly patient_name: string;
  readonly mrn: string;
  readonly birth_date: string;
  readonly age: string;
  readonly sex: string;
  readonly requester: string;
  readonly requested_at: string;
  readonly created_at: string;
  readonly signer: string;
  readonly signed_at: string;
  readonly sign_comment: string;
  readonly released_at: string;
  readonly amendment: string;
}

export interface DocLesion {
  readonly number: number;
  readonly diameter: string;
  readonly volume: string;
  readonly density: string;
  readonly slices: string;
  readonly confidence: string;
  readonly review: string;
  readonly viewer_href: string | null;
}

/** A classified image's heatmap: the image (a PNG data URL), the result it explains, the card's caveat. */
export interface DocHeatmap {
  readonly number: number;
  readonly result: string;
  readonly image: string;
  readonly caveat: string;
  readonly viewer_href: string | null;
}

export interface DocImaging {
  readonly title: string;
  readonly study: string;
  readonly model: string;
  readonly summary: readonly DocRow[];
  readonly lesions: readonly DocLesion[];
  readonly predictions: readonly DocRow[];
  readonly notes: readonly string[];
  readonly series_uid: string;
  readonly heatmaps: readonly DocHeatmap[];
}

export interface DocScore {
  readonly score: string;
  readonly name: string;
  readonly value: string;
  readonly interpretation: string;
  readonly inputs: string;
  readonly reference: string;
}

export interface DocRecommendation {
  readonly title: string;
  readonly statement: string;
  readonly evidence: readonly string[];
  readonly reference: string;
}

export interface DocLearned {
  readonly name: string;
  readonly version: string;
  readonly result: string;
  readonly drivers: readonly string[];
  readonly notes: readonly string[];
  readonly applicable: boolean;
}

export interface DocModel {
  readonly name: string;
  readonly kind: string;
  readonly version: string;
  readonly weights_sha256: string;
  readonly inputs: string;
}

export interface DocSecondOpinion {
  readonly author: string;
  readonly signed_at: string;
  readonly urgency: string;
  readonly answer: string;
  readonly recommendations: readonly string[];
}

export interface ReportDocument {
  readonly header: DocHeader;
  readonly warnings: readonly string[];
  readonly imaging: readonly DocImaging[];
  readonly staging: readonly DocRow[];
  readonly scores: readonly DocScore[];
  readonly not_computed: readonly DocRow[];
  readonly labs: readonly DocRow[];
  readonly learned: readonly DocLearned[];
  readonly modifiers: readonly DocRow[];
  readonly recommendations: readonly DocRecommendation[];
  /** Signed consultant opinions this version carries. */
  readonly second_opinions: readonly DocSecondOpinion[];
  readonly gaps: readonly string[];
  readonly models: readonly DocModel[];
  readonly provenance: readonly DocRow[];
  readonly intended_use: string;
  readonly signature: string;
  readonly printed_note: string;
}

const text = (value: unknown): string => (typeof value === 'string' ? value : value === null || value === undefined ? '' : String(value));
const texts = (value: unknown): string[] => asArray(value).map(text);
const rows = (value: unknown): DocRow[] => asArray(value).map((raw) => {
  const r = asRecord(raw);
  return { label: text(r.label), value: text(r.value) };
});

/** The document from the API, every field checked; null when the answer has none. */
export function documentParse(raw: unknown): ReportDocument | null {
  if (!isRecord(raw) || !isRecord(raw.header)) return null;
  const hd = raw.header;
  const header: DocHeader = {
    title: text(hd.title), state: text(hd.state), state_label: text(hd.state_label),
    version: typeof hd.version === 'number' ? hd.version : 0,
    patient_name: text(hd.patient_name), mrn: text(hd.mrn), birth_date: text(hd.birth_date), age: text(hd.age),
    sex: text(hd.sex), requester: text(hd.requester), requested_at: text(hd.requested_at), created_at: text(hd.created_at),
    signer: text(hd.signer), signed_at: text(hd.signed_at), sign_comment: text(hd.sign_comment),
    released_at: text(hd.released_at), amendment: text(hd.amendment),
  };
  return {
    header,
    warnings: texts(raw.warnings),
    imaging: asArray(raw.imaging).map((item) => {
      const b = asRecord(item);
      return {
        title: text(b.title), study: text(b.study), model: text(b.model), summary: rows(b.summary),
        predictions: rows(b.predictions), notes: texts(b.notes), series_uid: text(b.series_uid),
        heatmaps: asArray(b.heatmaps).map((raw) => {
          const m = asRecord(raw);
          const image = text(m.image);
          const href = m.viewer_href;
          return {
            number: typeof m.number === 'number' ? m.number : 0, result: text(m.result), caveat: text(m.caveat),
            // Only an inline PNG: the server embeds the image, nothing is fetched from elsewhere.
            image: image.startsWith('data:image/png;base64,') ? image : '',
            viewer_href: typeof href === 'string' && href.startsWith('/studies/') ? href : null,
          };
        }).filter((m) => m.image),
        lesions: asArray(b.lesions).map((l) => {
          const lesion = asRecord(l);
          const href = lesion.viewer_href;
          return {
            number: typeof lesion.number === 'number' ? lesion.number : 0,
            diameter: text(lesion.diameter), volume: text(lesion.volume), density: text(lesion.density),
            slices: text(lesion.slices), confidence: text(lesion.confidence), review: text(lesion.review),
            // Only a link inside this app: the server builds /studies/... links.
            viewer_href: typeof href === 'string' && href.startsWith('/studies/') ? href : null,
          };
        }),
      };
    }),
    staging: rows(raw.staging),
    scores: asArray(raw.scores).map((item) => {
      const s = asRecord(item);
      return { score: text(s.score), name: text(s.name), value: text(s.value), interpretation: text(s.interpretation),
        inputs: text(s.inputs), reference: text(s.reference) };
    }),
    not_computed: rows(raw.not_computed),
    labs: rows(raw.labs),
    learned: asArray(raw.learned).map((item) => {
      const m = asRecord(item);
      return { name: text(m.name), version: text(m.version), result: text(m.result), drivers: texts(m.drivers),
        notes: texts(m.notes), applicable: m.applicable !== false };
    }),
    modifiers: rows(raw.modifiers),
    recommendations: asArray(raw.recommendations).map((item) => {
      const r = asRecord(item);
      return { title: text(r.title), statement: text(r.statement), evidence: texts(r.evidence), reference: text(r.reference) };
    }),
    second_opinions: asArray(raw.second_opinions).map((item) => {
      const o = asRecord(item);
      return { author: text(o.author), signed_at: text(o.signed_at), urgency: text(o.urgency), answer: text(o.answer),
        recommendations: texts(o.recommendations) };
    }),
    gaps: texts(raw.gaps),
    models: asArray(raw.models).map((item) => {
      const m = asRecord(item);
      return { name: text(m.name), kind: text(m.kind), version: text(m.version), weights_sha256: text(m.weights_sha256),
        inputs: text(m.inputs) };
    }),
    provenance: rows(raw.provenance),
    intended_use: text(raw.intended_use),
    signature: text(raw.signature),
    printed_note: text(raw.printed_note),
  };
}
