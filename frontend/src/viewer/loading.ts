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
  return {
    retrieveOptions: { default: {} },
    stages: [
      // Cornerstone reads positions below 1 as fractions of the series; 0 is the first slice.
      { id: 'shownSlice', positions: shownSlices(sliceCount), requestType: INTERACTION, priority: -10 },
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

/** The slice or two at the volume's centre, where the camera starts: the slices fetched first. */
export function shownSlices(sliceCount: number): number[] {
  const middle = (Math.max(1, sliceCount) - 1) / 2;
  return [...new Set([Math.floor(middle), Math.ceil(middle)])];
}

/** A viewport of a streaming volume: the slice it shows (undefined across the slices) and whether it is in. */
export interface ShownSlice {
  readonly id: string;
  readonly slice: number | undefined;
  readonly loaded: boolean;
}

/**
 * Which viewports to redraw as a volume's slices arrive. Cornerstone redraws every view after
 * every 2 % of the slices; without a GPU (software WebGL) each redraw of a large viewport takes
 * 0.1-0.5 s of the main thread, which the arriving slices then wait for, so a 120-slice volume
 * loaded render-bound. Here a view is redrawn when the slice it shows has just arrived (the
 * first image, or a slice scrolled to before it came); while a view cuts across the slices (MPR's
 * sagittal and coronal views, which fill in as slices arrive), all views at most every
 * `intervalMs`; and all once the last slice is in.
 */
export function volumeRenderPacer(intervalMs: number, now: () => number = () => performance.now()):
  (views: readonly ShownSlice[], complete: boolean) => string[] {
  let last = Number.NEGATIVE_INFINITY;
  const drawn = new Map<string, number>();
  return (views, complete) => {
    const time = now();
    const across = views.some((view) => view.slice === undefined);
    const due = complete || (across && time - last >= intervalMs)
      ? views
      : views.filter((view) => view.slice !== undefined && view.loaded && drawn.get(view.id) !== view.slice);
    if (due.length === views.length && views.length > 0) last = time;
    for (const view of due) if (view.slice !== undefined && view.loaded) drawn.set(view.id, view.slice);
    return due.map((view) => view.id);
  };
}
