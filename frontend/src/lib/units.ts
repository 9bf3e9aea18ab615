/**
 * Units on the client: display spelling, conversion for the trend chart's unit switch, number
 * formatting and reference-range flags. The catalogue (factors, ranges) comes from the server;
 * this module never guesses a factor it was not given.
 */

export interface UnitSpec {
  readonly unit: string;
  /** canonical = value * factor + offset */
  readonly factor: number;
  readonly offset?: number;
}

export interface ReferenceRange {
  readonly low: number | null;
  readonly high: number | null;
}

export interface AnalyteSpec {
  readonly key: string;
  readonly loinc: string;
  readonly display_name: string;
  readonly canonical_unit: string;
  readonly units: readonly UnitSpec[];
  readonly reference_range: ReferenceRange | null;
}

const UNIT_DISPLAY: Readonly<Record<string, string>> = {
  'umol/L': 'µmol/L',
  'ukat/L': 'µkat/L',
  '10*9/L': '×10⁹/L',
  '10*3/uL': '×10³/µL',
  '/mm3': '/mm³',
  '{INR}': '',
  '%': '%',
};

/** UCUM code to what a clinician reads (UCUM stays the stored and sent form). */
export function unitDisplay(unit: string): string {
  if (unit in UNIT_DISPLAY) return UNIT_DISPLAY[unit] ?? unit;
  return unit.replace(/^u(?=[a-zA-Z])/, 'µ');
}

function unitNormalise(unit: string): string {
  return unit.trim().toLowerCase().replace(/[\u00b5\u03bc]/g, 'u');
}

export function unitSpecFind(analyte: AnalyteSpec, unit: string): UnitSpec | null {
  const wanted = unitNormalise(unit);
  if (wanted === unitNormalise(analyte.canonical_unit)) {
    return analyte.units.find((spec) => unitNormalise(spec.unit) === wanted) ?? { unit: analyte.canonical_unit, factor: 1 };
  }
  return analyte.units.find((spec) => unitNormalise(spec.unit) === wanted) ?? null;
}

/** Convert between two units the catalogue lists for this analyte; null when either is unknown. */
export function unitConvert(analyte: AnalyteSpec, value: number, from: string, to: string): number | null {
  const source = unitSpecFind(analyte, from);
  const target = unitSpecFind(analyte, to);
  if (!source || !target || target.factor === 0) return null;
  const canonical = value * source.factor + (source.offset ?? 0);
  return (canonical - (target.offset ?? 0)) / target.factor;
}

/** Distinct units worth offering in a switch: one spelling per factor, canonical first. */
export function unitChoices(analyte: AnalyteSpec): string[] {
  const seen = new Map<string, string>();
  const ordered = [
    ...analyte.units.filter((spec) => unitNormalise(spec.unit) === unitNormalise(analyte.canonical_unit)),
    ...analyte.units,
  ];
  for (const spec of ordered) {
    const key = `${spec.factor}:${spec.offset ?? 0}`;
    if (!seen.has(key)) seen.set(key, spec.unit);
  }
  if (seen.size === 0) return [analyte.canonical_unit];
  return [...seen.values()];
}

/** Sensible precision by magnitude: 1234, 123, 12.3, 1.23, 0.123. */
export function valueFormat(value: number): string {
  if (!Number.isFinite(value)) return '—';
  const magnitude = Math.abs(value);
  let digits: number;
  if (magnitude >= 100) digits = 0;
  else if (magnitude >= 10) digits = 1;
  else if (magnitude >= 1) digits = 2;
  else if (magnitude === 0) digits = 0;
  else digits = 3;
  return value.toFixed(digits);
}

export function valueWithUnit(value: number, unit: string): string {
  const shown = unitDisplay(unit);
  return shown ? `${valueFormat(value)} ${shown}` : valueFormat(value);
}

export type RangeFlag = 'low' | 'high' | 'normal' | 'unknown';

export function rangeFlag(value: number, range: ReferenceRange | null | undefined): RangeFlag {
  if (!range || (range.low === null && range.high === null)) return 'unknown';
  if (range.low !== null && value < range.low) return 'low';
  if (range.high !== null && value > range.high) return 'high';
  return 'normal';
}

export function rangeText(range: ReferenceRange | null | undefined, unit: string): string {
  if (!range) return 'no reference range';
  const shown = unitDisplay(unit);
  const suffix = shown ? ` ${shown}` : '';
  if (range.low !== null && range.high !== null) return `${valueFormat(range.low)}–${valueFormat(range.high)}${suffix}`;
  if (range.high !== null) return `≤ ${valueFormat(range.high)}${suffix}`;
  if (range.low !== null) return `≥ ${valueFormat(range.low)}${suffix}`;
  return 'no reference range';
}

/** Reference range expressed in another unit of the same analyte. */
export function rangeConvert(analyte: AnalyteSpec, range: ReferenceRange, to: string): ReferenceRange {
  const convert = (v: number | null): number | null =>
    v === null ? null : unitConvert(analyte, v, analyte.canonical_unit, to);
  return { low: convert(range.low), high: convert(range.high) };
}
