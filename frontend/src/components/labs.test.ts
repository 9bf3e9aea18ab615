import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/errors';
import type { Analyte, Observation } from '../api/types';
import { labRow, suggestedUnits } from './labs';

const bilirubin: Analyte = {
  key: 'bilirubin_total', code: '1975-2', display_name: 'Total bilirubin', canonical_unit: 'umol/L',
  units: ['umol/L', 'µmol/L', 'mg/dL'], reference_range: { low: 3, high: 21 },
  conversions: [{ unit: 'umol/L', factor: 1, offset: 0 }, { unit: 'µmol/L', factor: 1, offset: 0 }, { unit: 'mg/dL', factor: 17.1, offset: 0 }],
};

function observation(extra: Partial<Observation>): Observation {
  return {
    id: 1, code: '1975-2', value: 2.6, unit: 'mg/dL', value_canonical: 2.6 * 17.1, unit_canonical: 'umol/L',
    observed_at: '2026-01-02T08:00:00Z', reference_low: null, reference_high: null, ...extra,
  };
}

describe('lab panel rows', () => {
  it('shows value and the generic range in one unit, the one chosen', () => {
    // The row: "2.60 mg/dL" against "3.00-21.0 µmol/L" read as low; it is high.
    const inMgDl = labRow(observation({}), bilirubin, 'mg/dL');
    expect(inMgDl.unit).toBe('mg/dL');
    expect(inMgDl.value).toBeCloseTo(2.6, 9);
    expect(inMgDl.range?.low).toBeCloseTo(3 / 17.1, 9);
    expect(inMgDl.range?.high).toBeCloseTo(21 / 17.1, 9);
    expect(inMgDl.flag).toBe('high');
    const inSi = labRow(observation({}), bilirubin, 'umol/L');
    expect(inSi.value).toBeCloseTo(44.46, 9);
    expect(inSi.range).toEqual({ low: 3, high: 21 });
    expect(inSi.flag).toBe('high');
    expect(inSi.rangeSource).toBe('generic');
  });

  it("converts the laboratory's own range from the unit it was entered in", () => {
    const row = labRow(observation({ reference_low: 0.2, reference_high: 1.2 }), bilirubin, 'umol/L');
    expect(row.rangeSource).toBe('laboratory');
    expect(row.range?.low).toBeCloseTo(3.42, 9);
    expect(row.range?.high).toBeCloseTo(20.52, 9);
  });

  it('keeps the entered unit when the catalogue sent no factor', () => {
    const row = labRow(observation({}), { ...bilirubin, conversions: [] }, 'mg/dL');
    expect(row.unit).toBe('mg/dL');
    expect(row.value).toBe(2.6);
    expect(row.range).toBeNull();
    expect(row.flag).toBe('unknown');
  });

  it('keeps the comparator of a censored result and flags it only when certain', () => {
    const belowLow = labRow(observation({ comparator: '<', value: 0.1, value_canonical: 1.71 }), bilirubin, 'umol/L');
    expect(belowLow.comparator).toBe('<');
    expect(belowLow.flag).toBe('low');
    const unsure = labRow(observation({ comparator: '<', value: 1, value_canonical: 17.1 }), bilirubin, 'umol/L');
    expect(unsure.flag).toBe('unknown');
    const aboveHigh = labRow(observation({ comparator: '>', value: 30, value_canonical: 513 }), bilirubin, 'umol/L');
    expect(aboveHigh.flag).toBe('high');
  });

  it('reads the suggested units of a unit_suspect answer', () => {
    const error = new ApiError(400, { code: 'unit_suspect', message: 'did you mean g/dL?', detail: { field: 'unit', suggested_units: ['g/dL'] } });
    expect(suggestedUnits(error)).toEqual(['g/dL']);
    expect(suggestedUnits(new ApiError(400, { code: 'unknown_unit', message: 'x', detail: null }))).toEqual([]);
  });
});
