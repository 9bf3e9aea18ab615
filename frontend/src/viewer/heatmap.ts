/**
 * A classifier's Grad-CAM heatmap over the image it explains (chest radiographs): a coloured
 * layer on the viewport that follows zoom and pan, an opacity slider, and the model card's
 * caveat beside it. The heatmap shows where the network looked, not an outline of disease.
 */

import type { Types } from '@cornerstonejs/core';
import { h, replace, uid } from '../lib/dom';
import type { ViewerModule } from './module';

export interface AiHeatmap {
  /** The SOP Instance UID of the image the heatmap explains. */
  readonly sopUid: string;
  /** A PNG (grey levels 0-255) as a data URL, from the analysis step's result. */
  readonly dataUrl: string;
  readonly label: string;
  readonly probability: number | null;
  /** The model's display name and version, e.g. "Paediatric chest X-ray pneumonia classifier 1.0.0". */
  readonly model: string;
  /** What the model card says about its heatmaps. */
  readonly caveat: string;
}

export const HEATMAP_CAVEAT_DEFAULT = 'The heatmap shows where the model looked, not an outline of disease.';

/** A jet-like colour for a grey level 0-255 (blue, cyan, yellow, red). Pure. */
export function heatColour(value: number): [number, number, number] {
  const t = Math.max(0, Math.min(1, value / 255));
  const channel = (centre: number): number => Math.round(255 * Math.max(0, Math.min(1, 1.5 - Math.abs(4 * t - centre))));
  return [channel(3), channel(2), channel(1)];
}

/** The SOP Instance UID inside a WADO-RS image id. */
export function imageIdSop(imageId: string | undefined): string | null {
  return imageId ? /\/instances\/([0-9.]+)\/frames\//.exec(imageId)?.[1] ?? null : null;
}

async function colourise(dataUrl: string): Promise<HTMLCanvasElement> {
  const image = new Image();
  image.src = dataUrl;
  await image.decode();
  const canvas = document.createElement('canvas');
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const context = canvas.getContext('2d');
  if (!context) return canvas;
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
  const data = pixels.data;
  for (let i = 0; i < data.length; i += 4) {
    const value = data[i] as number;
    const [r, g, b] = heatColour(value);
    data[i] = r;
    data[i + 1] = g;
    data[i + 2] = b;
    // Weak attention stays transparent so the anatomy under it remains readable.
    data[i + 3] = value < 32 ? 0 : Math.min(255, Math.round(value * 1.1));
  }
  context.putImageData(pixels, 0, 0);
  return canvas;
}

export class HeatmapModule implements ViewerModule {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private readonly opacity: HTMLInputElement;
  private readonly toggle: HTMLInputElement;
  private heatmaps: readonly AiHeatmap[] = [];
  private readonly coloured = new Map<string, Promise<HTMLCanvasElement>>();
  private layer: HTMLCanvasElement | null = null;
  private shownSop: string | null = null;
  private ticket = 0;

  constructor() {
    const opacityId = uid('heatmap-opacity');
    const toggleId = uid('heatmap-show');
    this.opacity = h('input', { type: 'range', id: opacityId, min: '0', max: '100', value: '50', step: '5' });
    this.opacity.addEventListener('input', () => this.style());
    this.toggle = h('input', { type: 'checkbox', id: toggleId, checked: true });
    this.toggle.addEventListener('change', () => this.style());
    this.body = h('div', { class: 'heatmap-body' });
    this.element = h('section', { class: 'panel', id: 'ai-heatmap', 'aria-labelledby': 'heatmap-title', hidden: true },
      h('header', { class: 'panel-head' }, h('h2', { id: 'heatmap-title' }, 'AI heatmap (Grad-CAM)')),
      this.body,
      h('div', { class: 'check' }, this.toggle, h('label', { for: toggleId }, ' Show heatmap')),
      h('div', { class: 'field inline' }, h('label', { for: opacityId }, 'Heatmap opacity'), this.opacity));
  }

  init(): void {
    this.element.dataset.heatmap = 'none';
  }

  /** The heatmaps of the shown series (empty hides the panel). */
  setHeatmaps(heatmaps: readonly AiHeatmap[]): void {
    this.heatmaps = heatmaps;
    this.shownSop = null;
    this.element.hidden = heatmaps.length === 0;
    if (heatmaps.length === 0) this.clear();
  }

  /** The viewport cell the layer belongs to (a stack view), or none. */
  attach(cell: HTMLElement | null): void {
    this.layer?.remove();
    this.layer = null;
    this.shownSop = null;
    if (!cell) return;
    this.layer = h('canvas', { class: 'vp-heatmap', 'aria-hidden': 'true' });
    cell.querySelector('.vp-overlay')?.before(this.layer);
    this.style();
  }

  /** Place the heatmap of the image the viewport shows over it (after every render). */
  update(viewport: Types.IStackViewport): void {
    const layer = this.layer;
    if (!layer) return;
    const sop = imageIdSop(viewport.getCurrentImageId());
    const heatmap = this.heatmaps.find((m) => m.sopUid === sop);
    if (!heatmap) {
      this.clear();
      return;
    }
    this.place(viewport, layer);
    if (sop === this.shownSop) return;
    this.shownSop = sop;
    this.describe(heatmap);
    const ticket = ++this.ticket;
    let colouredCanvas = this.coloured.get(heatmap.sopUid);
    if (!colouredCanvas) {
      colouredCanvas = colourise(heatmap.dataUrl);
      this.coloured.set(heatmap.sopUid, colouredCanvas);
    }
    void colouredCanvas.then((source) => {
      if (ticket !== this.ticket || !this.layer) return;
      this.layer.width = source.width;
      this.layer.height = source.height;
      this.layer.getContext('2d')?.drawImage(source, 0, 0);
      this.element.dataset.heatmap = 'shown';
      this.style();
    }).catch(() => {
      this.element.dataset.heatmap = 'error';
    });
  }

  /** Stretch the layer over the image's pixels on the canvas (follows zoom and pan). */
  private place(viewport: Types.IStackViewport, layer: HTMLCanvasElement): void {
    const data = viewport.getImageData();
    const toWorld = data?.imageData?.indexToWorld?.bind(data.imageData);
    if (!data || !toWorld) return;
    const [columns, rows] = data.dimensions;
    const corner = (i: number, j: number): Types.Point2 => viewport.worldToCanvas(toWorld([i, j, 0]) as Types.Point3);
    const a = corner(-0.5, -0.5);
    const b = corner(columns - 0.5, rows - 0.5);
    layer.style.left = `${Math.min(a[0], b[0])}px`;
    layer.style.top = `${Math.min(a[1], b[1])}px`;
    layer.style.width = `${Math.abs(b[0] - a[0])}px`;
    layer.style.height = `${Math.abs(b[1] - a[1])}px`;
  }

  private describe(heatmap: AiHeatmap): void {
    replace(this.body,
      h('p', { class: 'small heatmap-model' }, heatmap.model),
      h('p', { class: 'small' }, `${heatmap.label}${heatmap.probability !== null ? ` · probability ${heatmap.probability.toFixed(2)}` : ''}`),
      h('p', { class: 'small heatmap-caveat', role: 'note' }, heatmap.caveat || HEATMAP_CAVEAT_DEFAULT,
        ' It supports, not replaces, clinical judgement.'));
  }

  private clear(): void {
    this.ticket += 1;
    this.shownSop = null;
    if (this.layer) {
      this.layer.width = 0;
      this.layer.height = 0;
    }
    this.element.dataset.heatmap = this.heatmaps.length ? 'other-image' : 'none';
  }

  private style(): void {
    const opacity = this.toggle.checked ? Number(this.opacity.value) / 100 : 0;
    this.element.dataset.opacity = String(Math.round(opacity * 100));
    if (this.layer) this.layer.style.opacity = String(opacity);
  }

  destroy(): void {
    this.ticket += 1;
    this.layer?.remove();
    this.layer = null;
    this.coloured.clear();
  }
}
