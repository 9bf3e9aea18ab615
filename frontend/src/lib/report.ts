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
        const value = item.value ?? item.contribution ?? item.weight;
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
