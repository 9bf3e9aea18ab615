import { describe, expect, it } from 'vitest';
import {
  type AnalyteSpec, factorFromPairs, rangeConvert, rangeFlag, rangeFlagCensored, rangeScale, rangeText, unitChoices, unitDisplay,
  unitPreferred, valueCensoredFormat, valueConvert, valueFormat, valueWithUnit,
} from './units';

const bilirubin: AnalyteSpec = {
  key: 'bilirubin_total', code: '1975-2', display_name: 'Total bilirubin', canonical_unit: 'umol/L',
  units: ['umol/L', 'µmol/L', 'mg/dL'], reference_range: { low: 3, high: 21 },
};

describe('units', () => {
  it('shows UCUM codes the way clinicians read them', () => {
    expect(unitDisplay('umol/L')).toBe('µmol/L');
    expect(unitDisplay('10*9/L')).toBe('×10⁹/L');
    expect(unitDisplay('{INR}')).toBe('');
    expect(unitDisplay('U/L')).toBe('U/L');
  });

  it('offers one spelling per unit, canonical first', () => {
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

  it('reads the conversion factor back from the server and scales the range with it', () => {
    const factor = factorFromPairs([{ canonical: 34.2, converted: 2 }, { canonical: 0, converted: 0 }, { canonical: 17.1, converted: 1 }]);
    expect(factor).toBeCloseTo(1 / 17.1, 9);
    const range = rangeScale({ low: 3, high: 21 }, factor as number);
    expect(range.low).toBeCloseTo(0.175, 3);
    expect(range.high).toBeCloseTo(1.228, 3);
    expect(factorFromPairs([{ canonical: 0, converted: 0 }])).toBeNull();
    expect(factorFromPairs([{ canonical: 1, converted: 2 }, { canonical: 1, converted: 3 }])).toBeNull();
  });
});

describe('conversion with the catalogue factors', () => {
  const albumin = {
    key: 'albumin', code: '1751-7', display_name: 'Albumin', canonical_unit: 'g/L', units: ['g/L', 'g/dL'],
    reference_range: { low: 35, high: 50 },
    conversions: [{ unit: 'g/L', factor: 1, offset: 0 }, { unit: 'g/dL', factor: 10, offset: 0 }],
  };

  it('converts between any two accepted units and never guesses a missing factor', () => {
    expect(valueConvert(albumin, 35, 'g/L', 'g/dL')).toBeCloseTo(3.5, 12);
    expect(valueConvert(albumin, 3.5, 'g/dL', 'g/L')).toBeCloseTo(35, 12);
    expect(valueConvert(albumin, 3.5, 'g/dL', 'mg/dL')).toBeNull();
    expect(rangeConvert(albumin, { low: 35, high: null }, 'g/L', 'g/dL')).toEqual({ low: 3.5, high: null });
  });

  it('formats censored results as clinicians write them', () => {
    expect(valueCensoredFormat(5, '<')).toBe('<5.00');
    expect(valueCensoredFormat(2000, '>=')).toBe('≥2000');
    expect(valueCensoredFormat(40, '')).toBe('40.0');
    expect(rangeFlagCensored(5, '<', { low: 0, high: 10 })).toBe('normal');
    expect(rangeFlagCensored(5, '<', { low: 7, high: 10 })).toBe('low');
    expect(rangeFlagCensored(2000, '>', { low: 7, high: 56 })).toBe('high');
  });

  it('falls back to the canonical unit when no preference is stored', () => {
    expect(unitPreferred(albumin)).toBe('g/L');
  });
});
