import { describe, expect, it } from 'vitest';
import { type DicomJson, TAG, frameImageIds, instancesSort, seriesInfoParse, seriesIsVolumetric } from './dicomJson';
import { CT_PRESETS, presetMatch, presetToVoi, voiToWindow } from './presets';

function slice(sop: string, z: number, n: number, extra: DicomJson = {}): DicomJson {
  return {
    [TAG.sopUid]: { vr: 'UI', Value: [sop] },
    [TAG.instanceNumber]: { vr: 'IS', Value: [n] },
    [TAG.imagePosition]: { vr: 'DS', Value: [0, 0, z] },
    [TAG.imageOrientation]: { vr: 'DS', Value: [1, 0, 0, 0, 1, 0] },
    [TAG.rows]: { vr: 'US', Value: [64] },
    [TAG.columns]: { vr: 'US', Value: [64] },
    ...extra,
  };
}

describe('dicom json', () => {
  it('orders slices along the normal, not by instance number', () => {
    const sorted = instancesSort([slice('a', 10, 1), slice('b', -5, 2), slice('c', 2.5, 3)]);
    expect(sorted.map((s) => s[TAG.sopUid]?.Value?.[0])).toEqual(['b', 'c', 'a']);
  });

  it('falls back to instance number without geometry', () => {
    const bare = (sop: string, n: number): DicomJson => ({ [TAG.sopUid]: { Value: [sop] }, [TAG.instanceNumber]: { Value: [n] } });
    expect(instancesSort([bare('x', 3), bare('y', 1)]).map((s) => s[TAG.sopUid]?.Value?.[0])).toEqual(['y', 'x']);
  });

  it('knows which series can be reformatted', () => {
    const ct = [slice('a', 0, 1), slice('b', 1, 2), slice('c', 2, 3)];
    expect(seriesIsVolumetric('CT', ct)).toBe(true);
    expect(seriesIsVolumetric('CR', ct)).toBe(false);
    expect(seriesIsVolumetric('CT', ct.slice(0, 2))).toBe(false);
    const odd = [...ct, slice('d', 3, 4, { [TAG.rows]: { Value: [32] } })];
    expect(seriesIsVolumetric('CT', odd)).toBe(false);
  });

  it('builds one WADO-RS image id per frame', () => {
    const multi = slice('1.2.3', 0, 1, { [TAG.numberOfFrames]: { Value: ['2'] } });
    expect(frameImageIds('http://h/dicomweb', '1.1', '1.1.1', multi)).toEqual([
      'wadors:http://h/dicomweb/studies/1.1/series/1.1.1/instances/1.2.3/frames/1',
      'wadors:http://h/dicomweb/studies/1.1/series/1.1.1/instances/1.2.3/frames/2',
    ]);
  });

  it('parses QIDO series answers in series-number order', () => {
    const series = seriesInfoParse([
      { [TAG.seriesUid]: { Value: ['2'] }, [TAG.modality]: { Value: ['SEG'] }, [TAG.seriesNumber]: { Value: [99] } },
      { [TAG.seriesUid]: { Value: ['1'] }, [TAG.modality]: { Value: ['CT'] }, [TAG.seriesNumber]: { Value: [2] }, [TAG.instanceCount]: { Value: [40] } },
    ]);
    expect(series.map((s) => [s.seriesUid, s.modality, s.instanceCount])).toEqual([['1', 'CT', 40], ['2', 'SEG', null]]);
  });
});

describe('window presets', () => {
  it('converts between presets and VOI ranges', () => {
    const liver = CT_PRESETS.find((p) => p.id === 'liver');
    expect(liver).toBeDefined();
    const range = presetToVoi(liver as { width: number; center: number });
    expect(range).toEqual({ lower: -45, upper: 105 });
    expect(voiToWindow(range)).toEqual({ width: 150, center: 30 });
    expect(presetMatch(range)?.id).toBe('liver');
    expect(presetMatch({ lower: 0, upper: 1 })).toBeNull();
  });

  it('covers the presets clinicians expect', () => {
    expect(CT_PRESETS.map((p) => p.id)).toEqual(expect.arrayContaining(['abdomen', 'liver', 'lung', 'bone', 'brain']));
  });
});
