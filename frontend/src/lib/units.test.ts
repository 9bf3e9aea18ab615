import { describe, expect, it } from 'vitest';
import {
  type AnalyteSpec, rangeConvert, rangeFlag, rangeText, unitChoices, unitConvert, unitDisplay, valueFormat, valueWithUnit,
} from './units';

const bilirubin: AnalyteSpec = {
  key: 'bilirubin_total', loinc: '1975-2', display_name: 'Total bilirubin', canonical_unit: 'umol/L',
  units: [{ unit: 'umol/L', factor: 1 }, { unit: 'µmol/L', factor: 1 }, { unit: 'mg/dL', factor: 17.1 }],
  reference_range: { low: 3, high: 21 },
};

describe('units', () => {
  it('shows UCUM codes the way clinicians read them', () => {
    expect(unitDisplay('umol/L')).toBe('µmol/L');
    expect(unitDisplay('10*9/L')).toBe('×10⁹/L');
    expect(unitDisplay('{INR}')).toBe('');
    expect(unitDisplay('U/L')).toBe('U/L');
  });

  it('converts through the canonical unit using only catalogue factors', () => {
    expect(unitConvert(bilirubin, 1, 'mg/dL', 'umol/L')).toBeCloseTo(17.1);
    expect(unitConvert(bilirubin, 34.2, 'umol/L', 'mg/dL')).toBeCloseTo(2);
    expect(unitConvert(bilirubin, 34.2, 'µmol/L', 'mg/dL')).toBeCloseTo(2);
    expect(unitConvert(bilirubin, 1, 'g/L', 'umol/L')).toBeNull();
  });

  it('offers one spelling per factor, canonical first', () => {
    expect(unitChoices(bilirubin)).toEqual(['umol/L', 'mg/dL']);
  });

  it('formats by magnitude', () => {
    expect(valueFormat(1234.4)).toBe('1234');
    expect(valueFormat(12.34)).toBe('12.3');
    expect(valueFormat(1.234)).toBe('1.23');
    expect(valueFormat(0.1234)).toBe('0.123');
    expect(valueFormat(Number.NaN)).toBe('—');
    expect(valueWithUnit(1.1, '{INR}')).toBe('1.10');
    expect(valueWithUnit(25, 'umol/L')).toBe('25.0 µmol/L');
  });

  it('flags values against the reference range', () => {
    expect(rangeFlag(25, bilirubin.reference_range)).toBe('high');
    expect(rangeFlag(2, bilirubin.reference_range)).toBe('low');
    expect(rangeFlag(21, bilirubin.reference_range)).toBe('normal');
    expect(rangeFlag(21, null)).toBe('unknown');
    expect(rangeText({ low: null, high: 40 }, 'U/L')).toBe('≤ 40.0 U/L');
  });

  it('converts the reference range with the unit switch', () => {
    const range = rangeConvert(bilirubin, { low: 3, high: 21 }, 'mg/dL');
    expect(range.low).toBeCloseTo(0.175, 3);
    expect(range.high).toBeCloseTo(1.228, 3);
  });
});
