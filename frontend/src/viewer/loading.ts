/**
 * How the viewer fetches a volume's slices, so that the first image comes early. Pure: only
 * Cornerstone's types are imported.
 */

import type { Enums, Types } from '@cornerstonejs/core';
import { type DicomJson, TAG, tagNumber } from './dicomJson';

// Cornerstone's RequestType values (a string enum; only its type is imported here).
const INTERACTION = 'interaction' as Enums.RequestType;
const PREFETCH = 'prefetch' as Enums.RequestType;

/**
 * Fetch the slice the viewport shows first (the middle one: the camera starts at the volume's
 * centre) before the others, which follow in order. Cornerstone's default fetches from one end,
 * so the first image waited for half the series.
 */
export function shownSliceFirst(sliceCount: number): Types.IRetrieveConfiguration & { stages: NonNullable<Types.IRetrieveConfiguration['stages']> } {
  const middle = (Math.max(1, sliceCount) - 1) / 2;
  return {
    retrieveOptions: { default: {} },
    stages: [
      // Cornerstone reads positions below 1 as fractions of the series; 0 is the first slice.
      { id: 'shownSlice', positions: [...new Set([Math.floor(middle), Math.ceil(middle)])], requestType: INTERACTION, priority: -10 },
      { id: 'allSlices', decimate: 1, offset: 0, requestType: PREFETCH, priority: 5 },
    ],
  };
}

/**
 * The instance with a window (centre, width) if it has none. Without one in the metadata,
 * Cornerstone computes a volume's window from the middle slice, which it fetches a second time
 * at low priority behind the whole series, and draws nothing until then. The viewer shows CT in
 * a preset window anyway, so the preset costs nothing.
 */
export function instanceWindowDefault(instance: DicomJson, center: number, width: number): DicomJson {
  if (tagNumber(instance, TAG.windowCenter) !== null && tagNumber(instance, TAG.windowWidth)) return instance;
  return { ...instance, [TAG.windowCenter]: { vr: 'DS', Value: [center] }, [TAG.windowWidth]: { vr: 'DS', Value: [width] } };
}
