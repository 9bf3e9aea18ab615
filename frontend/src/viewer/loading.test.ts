import { describe, expect, it } from 'vitest';
import { TAG, type DicomJson } from './dicomJson';
import { instanceWindowDefault, shownSliceFirst } from './loading';

describe('volume loading', () => {
  it('fetches the middle slice or slices first, then all in order', () => {
    expect(shownSliceFirst(120).stages[0]?.positions).toEqual([59, 60]);
    expect(shownSliceFirst(5).stages[0]?.positions).toEqual([2]);
    expect(shownSliceFirst(1).stages[0]?.positions).toEqual([0]);
    const [shown, rest] = shownSliceFirst(120).stages;
    expect((shown?.priority ?? 0) < (rest?.priority ?? 0)).toBe(true);
    expect(rest).toMatchObject({ decimate: 1, offset: 0 });
  });

  it('gives a window only to instances without one', () => {
    const bare: DicomJson = { [TAG.sopUid]: { vr: 'UI', Value: ['1.2'] } };
    const given = instanceWindowDefault(bare, 50, 400);
    expect(given[TAG.windowCenter]?.Value).toEqual([50]);
    expect(given[TAG.windowWidth]?.Value).toEqual([400]);
    expect(bare[TAG.windowCenter]).toBeUndefined();
    const own: DicomJson = { ...bare, [TAG.windowCenter]: { vr: 'DS', Value: ['-600'] }, [TAG.windowWidth]: { vr: 'DS', Value: ['1500'] } };
    expect(instanceWindowDefault(own, 50, 400)).toBe(own);
    const zeroWidth: DicomJson = { ...bare, [TAG.windowCenter]: { vr: 'DS', Value: [0] }, [TAG.windowWidth]: { vr: 'DS', Value: [0] } };
    expect(instanceWindowDefault(zeroWidth, 50, 400)[TAG.windowWidth]?.Value).toEqual([400]);
  });
});
