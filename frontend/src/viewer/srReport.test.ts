import { describe, expect, it } from 'vitest';
import type { DicomJson } from './dicomJson';
import { srDocumentParse } from './srReport';

const code = (value: string, meaning: string) => ({ vr: 'SQ', Value: [{ '00080100': { vr: 'SH', Value: [value] }, '00080104': { vr: 'LO', Value: [meaning] } }] });

const num = (meaning: string, value: string, unit: string) => ({
  '0040A040': { vr: 'CS', Value: ['NUM'] },
  '0040A043': code(meaning, meaning),
  '0040A300': { vr: 'SQ', Value: [{ '0040A30A': { vr: 'DS', Value: [value] }, '004008EA': code(unit, unit) }] },
});

const sr: DicomJson = {
  '00080018': { vr: 'UI', Value: ['1.2.3'] },
  '00080023': { vr: 'DA', Value: ['20261207'] },
  '0040A493': { vr: 'CS', Value: ['VERIFIED'] },
  '0040A043': code('126000', 'Imaging Measurement Report'),
  '0040A730': {
    vr: 'SQ',
    Value: [
      {
        '0040A040': { vr: 'CS', Value: ['CONTAINER'] },
        '0040A043': code('126010', 'Imaging Measurements'),
        '0040A730': {
          vr: 'SQ',
          Value: [{
            '0040A040': { vr: 'CS', Value: ['CONTAINER'] },
            '0040A043': code('125007', 'Measurement Group'),
            '0040A730': { vr: 'SQ', Value: [
              { '0040A040': { vr: 'CS', Value: ['TEXT'] }, '0040A043': code('112039', 'Tracking Identifier'),
                '0040A160': { vr: 'UT', Value: ['Liver lesion 1'] } },
              num('Volume', '12.5', 'ml'), num('Long axis', '31', 'mm')] },
          }],
        },
      },
      { '0040A040': { vr: 'CS', Value: ['TEXT'] }, '0040A043': code('121106', 'Comment'),
        '0040A160': { vr: 'UT', Value: ['Supports, not replaces, clinical judgement.'] } },
    ],
  },
};

describe('srDocumentParse', () => {
  it('lists each measurement with its unit under the finding it belongs to', () => {
    const doc = srDocumentParse(sr);
    expect(doc.title).toBe('Imaging Measurement Report');
    expect(doc.verification).toBe('VERIFIED');
    expect(doc.items).toEqual([
      { group: 'Liver lesion 1', name: 'Volume', value: '12.5 ml' },
      { group: 'Liver lesion 1', name: 'Long axis', value: '31 mm' },
    ]);
    expect(doc.comments).toEqual(['Supports, not replaces, clinical judgement.']);
  });

  it('gives an empty list for an SR without content', () => {
    expect(srDocumentParse({}).items).toEqual([]);
  });
});
