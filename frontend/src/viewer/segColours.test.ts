import { describe, expect, it } from 'vitest';
import { roleColour, segmentRole } from './segColours';

const liver = { number: 1, label: 'Liver', algorithmType: 'AUTOMATIC', category: 'Organ', propertyType: 'Liver' };
const lesion = { number: 2, label: 'Liver lesion', algorithmType: 'AUTOMATIC', category: 'Morphologically abnormal structure', propertyType: 'Neoplasm' };
const manual = { ...lesion, algorithmType: 'MANUAL' };

describe('segment colours', () => {
  it('keeps organs, AI proposals and clinician findings apart', () => {
    expect(segmentRole(liver, 'proposed')).toBe('organ');
    expect(segmentRole(lesion, 'proposed')).toBe('ai');
    expect(segmentRole(lesion, 'rejected')).toBe('ai');
    expect(segmentRole(lesion, 'verified')).toBe('clinician');
    expect(segmentRole(manual, 'proposed')).toBe('clinician');
    // A lesion filed under the Organ category (as some writers do) is still a finding.
    expect(segmentRole({ ...lesion, category: 'Organ', label: 'Lesion' }, 'proposed')).toBe('ai');
  });

  it('gives each family its own hues', () => {
    const [r, g, b] = roleColour('ai', 0);
    expect(r > g && b > g).toBe(true);
    const [, g2] = roleColour('clinician', 0);
    expect(g2).toBeGreaterThan(150);
    const [r3, , b3] = roleColour('organ', 0);
    expect(b3).toBeGreaterThan(r3);
  });
});
