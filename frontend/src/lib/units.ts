/**
 * Units on the client: display spelling, unit choices for pickers, number formatting and
 * reference-range flags. Conversion is the server's job (patients/units.py): the trend chart
 * asks the series endpoint for values in the chosen unit, and the lab panel converts with the
 * factors the analyte catalogue sends (GET /analytes/ `conversions`, read from the same JSON
 * the server converts with). This module never invents a factor.
 */

export interface ReferenceRange {
  readonly low: number | null;
  readonly high: number | null;
}

/** One catalogued analyte as GET /api/v1/analytes/ returns it. */
export interface AnalyteSpec {
  readonly key: string;
  /** LOINC code */
  readonly code: string;
  readonly display_name: string;
  readonly canonical_unit: string;
  /** Accepted spellings, canonical included. */
  readonly units: readonly string[];
  readonly reference_range: ReferenceRange | null;
  /** canonical = value * factor + offset, per accepted unit (the server's own table). */
  readonly conversions?: readonly UnitConversion[];
}

export interface UnitConversion {
  readonly unit: string;
  readonly factor: number;
  readonly offset: number;
}

const UNIT_DISPLAY: Readonly<Record<string, string>> = {
  'umol/L': 'µmol/L',
  'ukat/L': 'µkat/L',
  '10*9/L': '×10⁹/L',
  '10*3/uL': '×10³/µL',
  '/mm3': '/mm³',
  '{INR}': '',
  a: 'years',
};

/** UCUM code to what a clinician reads (UCUM stays the stored and sent form). */
export function unitDisplay(unit: string): string {
  if (unit in UNIT_DISPLAY) return UNIT_DISPLAY[unit] ?? unit;
  return unit.replace(/^u(?=[a-zA-Z])/, 'µ');
}

export function unitNormalise(unit: string): string {
  return unit.trim().toLowerCase().replace(/[\u00b5\u03bc]/g, 'u');
}

/** Units worth offering: canonical first, one entry per spelling after µ/u folding. */
export function unitChoices(analyte: AnalyteSpec): string[] {
  const seen = new Map<string, string>();
  for (const unit of [analyte.canonical_unit, ...analyte.units]) {
    const key = unitNormalise(unit);
    if (!seen.has(key)) seen.set(key, unit);
  }
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

/**
 * The factor the server used to convert canonical values into another unit, read back from
 * pairs of the same observations (canonical value, converted value). The catalogue's units
 * are linear without offset; null when no pair can tell (all zero) or the pairs disagree.
 */
export function factorFromPairs(pairs: readonly { canonical: number; converted: number }[]): number | null {
  const ratios = pairs.filter((p) => p.canonical !== 0 && Number.isFinite(p.converted)).map((p) => p.converted / p.canonical);
  if (ratios.length === 0) return null;
  const first = ratios[0] as number;
  return ratios.every((r) => Math.abs(r - first) <= Math.abs(first) * 1e-6) ? first : null;
}

export function rangeScale(range: ReferenceRange, factor: number): ReferenceRange {
  return {
    low: range.low === null ? null : range.low * factor,
    high: range.high === null ? null : range.high * factor,
  };
}

function conversionFor(analyte: AnalyteSpec, unit: string): UnitConversion | null {
  if (unitNormalise(unit) === unitNormalise(analyte.canonical_unit)) return { unit, factor: 1, offset: 0 };
  const wanted = unitNormalise(unit);
  return analyte.conversions?.find((c) => unitNormalise(c.unit) === wanted) ?? null;
}

/**
 * A value from one accepted unit to another with the catalogue's factors; null when the
 * catalogue did not send a factor for either unit (never guessed).
 */
export function valueConvert(analyte: AnalyteSpec, value: number, from: string, to: string): number | null {
  const source = conversionFor(analyte, from);
  const target = conversionFor(analyte, to);
  if (!source || !target) return null;
  return (value * source.factor + source.offset - target.offset) / target.factor;
}

export function rangeConvert(analyte: AnalyteSpec, range: ReferenceRange, from: string, to: string): ReferenceRange | null {
  const low = range.low === null ? null : valueConvert(analyte, range.low, from, to);
  const high = range.high === null ? null : valueConvert(analyte, range.high, from, to);
  if ((range.low !== null && low === null) || (range.high !== null && high === null)) return null;
  return { low, high };
}

const PREFERENCE_KEY = 'cdss.unit-preference';

function preferences(): Record<string, string> {
  try {
    const raw = globalThis.localStorage?.getItem(PREFERENCE_KEY);
    const parsed: unknown = raw ? JSON.parse(raw) : {};
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, string>) : {};
  } catch {
    return {};
  }
}

/** The unit this user chose for an analyte (kept in this browser), else the canonical one. */
export function unitPreferred(analyte: AnalyteSpec): string {
  const chosen = preferences()[analyte.key];
  return chosen && unitChoices(analyte).includes(chosen) && conversionFor(analyte, chosen) ? chosen : analyte.canonical_unit;
}

export function unitPreferenceSet(analyteKey: string, unit: string): void {
  try {
    globalThis.localStorage?.setItem(PREFERENCE_KEY, JSON.stringify({ ...preferences(), [analyteKey]: unit }));
  } catch {
    // Storage full or blocked: the choice then lasts for this page only.
  }
}

export type Comparator = '<' | '<=' | '>=' | '>';

const COMPARATOR_DISPLAY: Readonly<Record<Comparator, string>> = { '<': '<', '<=': '≤', '>=': '≥', '>': '>' };

/** "<5", "≥2000": a censored result as a clinician writes it. */
export function valueCensoredFormat(value: number, comparator: string | null | undefined): string {
  const sign = comparator ? COMPARATOR_DISPLAY[comparator as Comparator] ?? comparator : '';
  return `${sign}${valueFormat(value)}`;
}

/**
 * The range flag of a censored result: "<5" is below 5, so it is low only when 5 is at or below
 * the low limit, normal only when every value below 5 is (no low limit above 0), else unknown.
 */
export function rangeFlagCensored(value: number, comparator: string | null | undefined, range: ReferenceRange | null | undefined): RangeFlag {
  if (!comparator) return rangeFlag(value, range);
  if (!range || (range.low === null && range.high === null)) return 'unknown';
  if (comparator === '<' || comparator === '<=') {
    if (range.low !== null && value <= range.low) return 'low';
    if ((range.high === null || value <= range.high) && (range.low === null || range.low <= 0)) return 'normal';
    return 'unknown';
  }
  if (range.high !== null && value >= range.high) return 'high';
  if ((range.low === null || value >= range.low) && range.high === null) return 'normal';
  return 'unknown';
}
