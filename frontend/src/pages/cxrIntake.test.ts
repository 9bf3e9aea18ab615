import { describe, expect, it } from 'vitest';

import { decisionText, type IntakeRow, percent, rowsSorted, timelinePoints } from './cxrIntake';

function row(index: number, probability: number, decision = 'NORMAL'): IntakeRow {
  return { index, name: `${index}.png`, probability, threshold: 0.5, label: 'NORMAL', decision, uncertain: false, ood: null };
}

describe('cxr intake page helpers', () => {
  it('sorts by probability both ways, ties in input order', () => {
    const rows = [row(0, 0.2), row(1, 0.9), row(2, 0.2)];
    expect(rowsSorted(rows, false).map((r) => r.index)).toEqual([1, 0, 2]);
    expect(rowsSorted(rows, true).map((r) => r.index)).toEqual([0, 2, 1]);
  });

  it('draws the timeline with high probabilities at the top', () => {
    expect(timelinePoints([{ frame: 0, probability: 0 }, { frame: 10, probability: 1 }], 100, 50)).toBe('0.0,50.0 100.0,0.0');
    expect(timelinePoints([], 100, 50)).toBe('');
  });

  it('says when the model abstains', () => {
    expect(decisionText(row(0, 0.5, 'uncertain'))).toMatch(/abstains/);
    expect(decisionText(row(0, 0.5, 'out_of_distribution'))).toMatch(/out of distribution/);
    expect(decisionText(row(0, 0.9, 'PNEUMONIA'))).toBe('Pneumonia suspected');
    expect(percent(0.1234)).toBe('12.3 %');
  });
});
