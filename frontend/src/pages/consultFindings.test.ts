import { describe, expect, it } from 'vitest';
import { findingValueText } from './consultFindings';

describe('room findings values', () => {
  it('names each value with its unit', () => {
    expect(findingValueText('longest_axial_diameter_mm', 21.04)).toBe('longest axial diameter 21 mm');
    expect(findingValueText('volume_ml', 3.25)).toBe('volume 3.3 mL');
    expect(findingValueText('mean_density_hu', -12)).toBe('mean density -12 HU');
    expect(findingValueText('hemisphere', 'left')).toBe('hemisphere left');
  });

  it('leaves out values that are not there', () => {
    expect(findingValueText('volume_ml', null)).toBe('');
  });
});
