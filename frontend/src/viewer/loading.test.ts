import { describe, expect, it } from 'vitest';
import { TAG, type DicomJson } from './dicomJson';
import { instanceWindowDefault, shownSliceFirst, shownSlices, volumeRenderPacer } from './loading';

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

  it('names the centre slices the camera starts on', () => {
    expect(shownSlices(120)).toEqual([59, 60]);
    expect(shownSlices(0)).toEqual([0]);
  });

  it('redraws a view when its slice arrives, all views at an interval and at the end', () => {
    let time = 0;
    const pace = volumeRenderPacer(1000, () => time);
    const axial = (slice: number | undefined, loaded: boolean) => ({ id: 'axial', slice, loaded });
    const sagittal = { id: 'sagittal', slice: undefined, loaded: false };
    expect(pace([axial(59, false), sagittal], false)).toEqual(['axial', 'sagittal']); // the first event draws all
    time = 10;
    expect(pace([axial(59, false), sagittal], false)).toEqual([]);
    time = 20;
    expect(pace([axial(59, true), sagittal], false)).toEqual(['axial']); // the shown slice is in
    time = 30;
    expect(pace([axial(59, true), sagittal], false)).toEqual([]); // drawn already
    time = 40;
    expect(pace([axial(70, true), sagittal], false)).toEqual(['axial']); // scrolled to a slice that is in
    time = 1100;
    expect(pace([axial(70, true), sagittal], false)).toEqual(['axial', 'sagittal']);
    time = 1200;
    expect(pace([axial(70, true), sagittal], false)).toEqual([]);
    expect(pace([axial(70, true), sagittal], true)).toEqual(['axial', 'sagittal']);
  });

  it('leaves a single view that shows a slice alone until that slice arrives', () => {
    let time = 0;
    const pace = volumeRenderPacer(1000, () => time);
    expect(pace([{ id: 'axial', slice: 59, loaded: false }], false)).toEqual([]);
    time = 5000;
    expect(pace([{ id: 'axial', slice: 59, loaded: false }], false)).toEqual([]);
    expect(pace([{ id: 'axial', slice: 59, loaded: true }], false)).toEqual(['axial']);
    time = 9000;
    expect(pace([{ id: 'axial', slice: 59, loaded: true }], false)).toEqual([]);
    expect(pace([{ id: 'axial', slice: 59, loaded: true }], true)).toEqual(['axial']);
  });
});
