/**
 * A thumbnail for a DICOM SEG series, which a PACS renders blank or not at all: the source
 * image the segmentation covers most, with the segments painted over it in the viewer's
 * overlay colours (organ / AI proposal / clinician), made in the browser from the SEG itself.
 */

import { h } from '../lib/dom';
import { type DicomJson, SEG_SOP_CLASS, TAG, tagString } from './dicomJson';
import { segInstanceFetch, segReferencedSeries } from './dicomSeg';
import { segmentColours } from './segColours';
import { type DecodedSeg, segDecode } from './segDecode';

const SIZE = 96;

/** The frames of the slice with the most labelled pixels (frames grouped by source image or position). Pure. */
export function busiestSlice(seg: DecodedSeg): DecodedSeg['frames'] {
  const groups = new Map<string, DecodedSeg['frames'][number][]>();
  for (const frame of seg.frames) {
    const key = frame.referencedSopUid ?? frame.position?.join(',') ?? 'frame';
    const group = groups.get(key) ?? [];
    group.push(frame);
    groups.set(key, group);
  }
  let best: DecodedSeg['frames'] = [];
  let bestCount = 0;
  for (const group of groups.values()) {
    const count = group.reduce((sum, frame) => sum + frame.pixels.length, 0);
    if (count > bestCount) {
      best = group;
      bestCount = count;
    }
  }
  return best;
}

async function imageFrom(url: string): Promise<ImageBitmap | null> {
  try {
    const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'image/jpeg' } });
    if (!response.ok || !(response.headers.get('Content-Type') ?? '').startsWith('image/')) return null;
    return await createImageBitmap(await response.blob());
  } catch {
    return null;
  }
}

async function render(root: string, studyUid: string, segSeriesUid: string): Promise<string | null> {
  const response = await fetch(`${root}/studies/${studyUid}/series/${segSeriesUid}/metadata`, {
    credentials: 'same-origin', headers: { Accept: 'application/dicom+json, application/json' },
  });
  if (!response.ok) return null;
  const instances = (await response.json()) as DicomJson[];
  const instance = instances.find((i) => tagString(i, TAG.sopClassUid) === SEG_SOP_CLASS);
  if (!instance) return null;
  const seg = segDecode(await segInstanceFetch(root, studyUid, { seriesUid: segSeriesUid, sopUid: tagString(instance, TAG.sopUid), description: '' }));
  const frames = busiestSlice(seg);
  const canvas = document.createElement('canvas');
  canvas.width = SIZE;
  canvas.height = SIZE;
  const context = canvas.getContext('2d');
  if (!context) return null;
  context.fillStyle = '#000';
  context.fillRect(0, 0, SIZE, SIZE);
  const scale = Math.min(SIZE / seg.columns, SIZE / seg.rows);
  const width = seg.columns * scale;
  const height = seg.rows * scale;
  const left = (SIZE - width) / 2;
  const top = (SIZE - height) / 2;
  const sourceSop = frames[0]?.referencedSopUid;
  const sourceSeries = segReferencedSeries(instance)[0];
  if (sourceSop && sourceSeries) {
    const background = await imageFrom(`${root}/studies/${studyUid}/series/${sourceSeries}/instances/${sourceSop}/thumbnail?viewport=128,128`);
    if (background) context.drawImage(background, left, top, width, height);
  }
  const mask = new ImageData(seg.columns, seg.rows);
  const colours = segmentColours(seg.segments, 'proposed');
  for (const frame of frames) {
    const [r, g, b] = colours.get(frame.segmentNumber) ?? [255, 255, 0];
    for (const pixel of frame.pixels) {
      const i = pixel * 4;
      mask.data[i] = r;
      mask.data[i + 1] = g;
      mask.data[i + 2] = b;
      mask.data[i + 3] = 170;
    }
  }
  const layer = document.createElement('canvas');
  layer.width = seg.columns;
  layer.height = seg.rows;
  layer.getContext('2d')?.putImageData(mask, 0, 0);
  context.imageSmoothingEnabled = false;
  context.drawImage(layer, left, top, width, height);
  return canvas.toDataURL('image/png');
}

const made = new Map<string, Promise<string | null>>();

/** The SEG series's thumbnail element (a placeholder until drawn; it stays one if the SEG cannot be read). */
export function segThumbnail(root: string, studyUid: string, segSeriesUid: string): HTMLElement {
  const box = h('span', { class: 'thumb', 'data-thumb': 'loading' }, h('span', { class: 'thumb-placeholder', 'aria-hidden': 'true' }, 'SEG'));
  const key = `${studyUid}/${segSeriesUid}`;
  let pending = made.get(key);
  if (!pending) {
    pending = render(root, studyUid, segSeriesUid).catch(() => null);
    made.set(key, pending);
  }
  void pending.then((url) => {
    if (!url) {
      box.dataset.thumb = 'none';
      return;
    }
    box.replaceChildren(h('img', { alt: '', width: SIZE, height: SIZE, src: url }));
    box.dataset.thumb = 'seg';
  });
  return box;
}
