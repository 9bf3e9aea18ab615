import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SegDecodeError, bitsFrameIndices, segDecode } from './segDecode';

// A synthetic 3-slice, 8 x 8 BINARY SEG written by highdicom (tests/browser/phantom.py's recipe).
const TINY = readFileSync(new URL('./testdata/tiny-seg.dcm', import.meta.url));

describe('segDecode', () => {
  it('reads segments, frames, their source images and set pixels', () => {
    const seg = segDecode(new Uint8Array(TINY).buffer);
    expect(seg.rows).toBe(8);
    expect(seg.columns).toBe(8);
    expect(seg.description).toBe('Tiny test SEG');
    expect(seg.segments.map((s) => [s.number, s.label])).toEqual([[1, 'Liver'], [2, 'Lesion']]);
    // What the viewer colours by: who made each segment (a model here) and what it is.
    expect(seg.segments[0]?.algorithmType).toBe('AUTOMATIC');
    expect(seg.segments[0]?.propertyType).toBe('Liver');
    const byZ = new Map(seg.frames.map((f) => [f.position?.[2], f]));
    expect([...(byZ.get(0)?.pixels ?? [])]).toEqual([10, 11]);
    expect(byZ.get(0)?.segmentNumber).toBe(1);
    expect([...(byZ.get(5)?.pixels ?? [])]).toEqual([0]);
    expect(byZ.get(2.5)?.segmentNumber).toBe(2);
    expect([...(byZ.get(2.5)?.pixels ?? [])]).toEqual([63]);
    expect(seg.frames.every((f) => f.referencedSopUid?.startsWith('1.2.826.'))).toBe(true);
  });

  it('refuses what is not a SEG', () => {
    expect(() => segDecode(new Uint8Array([1, 2, 3]).buffer)).toThrow(SegDecodeError);
  });

  it('unpacks bits LSB first with frames contiguous across byte boundaries', () => {
    // Two 3 x 3 frames: bits 0..8 frame 0, 9..17 frame 1. Set bit 0, bit 8, bit 9 and bit 17.
    const bytes = new Uint8Array([0b00000001, 0b00000011, 0b00000010]);
    expect([...bitsFrameIndices(bytes, 0, 9)]).toEqual([0, 8]);
    expect([...bitsFrameIndices(bytes, 1, 9)]).toEqual([0, 8]);
  });
});
