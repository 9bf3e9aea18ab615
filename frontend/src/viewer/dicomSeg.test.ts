import { describe, expect, it } from 'vitest';
import { SEG_SOP_CLASS, TAG } from './dicomJson';
import { boundaryOf, multipartParts, segInstancesFor } from './dicomSeg';

const text = new TextEncoder();
const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

describe('multipart', () => {
  it('reads the boundary, quoted or not', () => {
    expect(boundaryOf('multipart/related; type="application/dicom"; boundary="abc-123"')).toBe('abc-123');
    expect(boundaryOf('multipart/related; boundary=xyz; type=application/dicom')).toBe('xyz');
    expect(boundaryOf('application/dicom')).toBeNull();
  });

  it('splits parts and strips their headers, binary-safe', () => {
    const body = text.encode('--b1\r\nContent-Type: application/dicom\r\n\r\nDICM\r\n--\x00data\r\n--b1\r\nContent-Type: application/dicom\r\n\r\nsecond\r\n--b1--\r\n');
    const parts = multipartParts(body, 'multipart/related; boundary=b1');
    expect(parts.map(decode)).toEqual(['DICM\r\n--\x00data', 'second']);
  });
});

describe('SEG references', () => {
  it('keeps the SEG instances that segment the given series', () => {
    const seg = (sop: string, referenced: string) => ({
      [TAG.sopUid]: { Value: [sop] },
      [TAG.sopClassUid]: { Value: [SEG_SOP_CLASS] },
      [TAG.seriesDescription]: { Value: ['Liver (AI)'] },
      [TAG.referencedSeriesSequence]: { Value: [{ [TAG.seriesUid]: { Value: [referenced] } }] },
    });
    const found = segInstancesFor('1.2.3', '9.9', [seg('a', '1.2.3'), seg('b', '4.5.6')]);
    expect(found).toEqual([{ seriesUid: '9.9', sopUid: 'a', description: 'Liver (AI)' }]);
  });
});
