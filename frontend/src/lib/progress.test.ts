import { describe, expect, it } from 'vitest';
import { bytesText, durationShort, etaFromPace, stepCountText, uploadText } from './progress';

describe('durationShort', () => {
  it('rounds up and switches units', () => {
    expect(durationShort(0.2)).toBe('1 s');
    expect(durationShort(19.1)).toBe('20 s');
    expect(durationShort(61)).toBe('2 min');
    expect(durationShort(3600)).toBe('1 h');
    expect(durationShort(3900)).toBe('1 h 5 min');
  });
});

describe('stepCountText', () => {
  it('says done of total with the time left', () => {
    expect(stepCountText({ step: 'running model', unit: 'slices', done: 48, total: 150, etaS: 19.4 }))
      .toBe('48 of 150 slices · about 20 s left');
  });
  it('leaves the time out when unknown or finished', () => {
    expect(stepCountText({ step: null, unit: 'images', done: 3, total: 20, etaS: null })).toBe('3 of 20 images');
    expect(stepCountText({ step: null, unit: 'slices', done: 20, total: 20, etaS: 0 })).toBe('20 of 20 slices');
  });
});

describe('bytes and uploads', () => {
  it('formats sizes in decimal units', () => {
    expect(bytesText(950)).toBe('950 bytes');
    expect(bytesText(12_400)).toBe('12 kB');
    expect(bytesText(1_234_567)).toBe('1.2 MB');
  });
  it('estimates the time left from the pace so far', () => {
    expect(etaFromPace(0, 100, 2)).toBeNull();
    expect(etaFromPace(25, 100, 2)).toBeCloseTo(6);
    expect(etaFromPace(100, 100, 2)).toBe(0);
  });
  it('describes an upload', () => {
    expect(uploadText(1_200_000, 4_500_000, 2.5)).toBe('1.2 MB of 4.5 MB sent · about 3 s left');
    expect(uploadText(4_500_000, 4_500_000, 0)).toBe('4.5 MB of 4.5 MB sent');
  });
});
