/**
 * Segmentation overlays (labelmaps) on the volume: create them, show or hide each segment,
 * set the fill opacity. Sources: a client-side HU threshold, or AI results once the server
 * provides them as labelmaps. One module per viewer, with init/destroy.
 */

import { cache, volumeLoader } from '@cornerstonejs/core';
import { Enums as ToolEnums, segmentation } from '@cornerstonejs/tools';
import { h, replace, uid } from '../lib/dom';
import type { ViewerModule } from './module';
import { type AiReviewState, ROLE_LEGEND, type SegmentRole, reviewLabel, roleColour, segmentColours, segmentIsAi, segmentRole } from './segColours';
import { SegDecodeError, type SegSegment, segDecode } from './segDecode';

export interface SegmentSpec {
  readonly index: number;
  readonly label: string;
  /** Inclusive HU range that becomes this segment (threshold source). */
  readonly min: number;
  readonly max: number;
}

/** A quick HU threshold: dense bone and enhancing soft tissue. Not a diagnosis. */
export const THRESHOLD_SEGMENTS: readonly SegmentSpec[] = [
  { index: 1, label: 'Bone (≥ 300 HU)', min: 300, max: Number.POSITIVE_INFINITY },
  { index: 2, label: 'Soft tissue (40–80 HU)', min: 40, max: 80 },
];

/** Label value for one voxel: the first segment whose range holds it, else 0. Pure. */
export function thresholdLabel(value: number, segments: readonly SegmentSpec[]): number {
  for (const segment of segments) if (value >= segment.min && value <= segment.max) return segment.index;
  return 0;
}

interface SegmentationEntry {
  readonly id: string;
  readonly name: string;
  readonly segments: readonly { index: number; label: string; source?: SegSegment }[];
  readonly hidden: Set<number>;
  visible: boolean;
  /** A DICOM SEG's own colour table (organ / AI / clinician families), when it has one. */
  readonly colorLut?: number[][];
  colorLutIndex?: number;
  /** A model made at least one of its segments. */
  readonly ai?: boolean;
}

const LABELMAP = ToolEnums.SegmentationRepresentations.Labelmap;

export class SegmentationModule implements ViewerModule {
  readonly element: HTMLElement;
  private readonly list: HTMLElement;
  private readonly opacity: HTMLInputElement;
  private readonly createButton: HTMLButtonElement;
  private readonly entries: SegmentationEntry[] = [];
  private volumeId: string | null = null;
  private viewportIds: readonly string[] = [];
  private readonly announce: (text: string) => void;
  private readonly render: () => void;
  private review: AiReviewState = 'proposed';
  /** A model's overlay is shown (with the review state), or none: the viewer labels the images. */
  onAiOverlay: (state: AiReviewState | null) => void = () => undefined;

  constructor(options: { announce: (text: string) => void; render: () => void }) {
    this.announce = options.announce;
    this.render = options.render;
    const opacityId = uid('seg-opacity');
    this.opacity = h('input', { type: 'range', id: opacityId, min: '0', max: '100', value: '50', step: '5' });
    this.opacity.addEventListener('input', () => this.applyOpacity());
    this.createButton = h('button', { type: 'button', class: 'btn btn-small', id: 'seg-threshold', disabled: true }, 'HU threshold');
    this.createButton.title = 'Create a labelmap from Hounsfield-unit ranges (bone, soft tissue)';
    this.createButton.addEventListener('click', () => void this.createThreshold());
    this.list = h('div', { class: 'seg-list' });
    this.element = h('section', { class: 'panel', id: 'segmentations', 'aria-labelledby': 'seg-title' },
      h('header', { class: 'panel-head' }, h('h2', { id: 'seg-title' }, 'Segmentations'), this.createButton),
      h('div', { class: 'field inline' }, h('label', { for: opacityId }, 'Fill opacity'), this.opacity),
      this.list);
  }

  init(): void {
    this.draw();
  }

  /** The volume is (re)bound to these viewports: show every segmentation on them. */
  attach(volumeId: string | null, viewportIds: readonly string[]): void {
    this.volumeId = volumeId;
    this.viewportIds = viewportIds;
    this.createButton.disabled = volumeId === null;
    if (volumeId === null) this.createButton.title = 'Segmentation overlays need a CT or MR volume';
    for (const entry of this.entries) this.represent(entry);
    this.applyOpacity();
    this.draw();
  }

  /** Called when the viewports are about to be torn down (layout change, series change). */
  detach(): void {
    for (const viewportId of this.viewportIds) {
      for (const entry of this.entries) {
        try {
          segmentation.removeSegmentationRepresentation(viewportId, { segmentationId: entry.id, type: LABELMAP });
        } catch {
          // Already gone with its viewport.
        }
      }
    }
    this.viewportIds = [];
  }

  private represent(entry: SegmentationEntry): void {
    const map: Record<string, { segmentationId: string; type: typeof LABELMAP }[]> = {};
    for (const viewportId of this.viewportIds) map[viewportId] = [{ segmentationId: entry.id, type: LABELMAP }];
    segmentation.addLabelmapRepresentationToViewportMap(map);
    if (entry.colorLut) {
      entry.colorLutIndex ??= segmentation.config.color.addColorLUT(entry.colorLut as never);
      for (const viewportId of this.viewportIds) segmentation.config.color.setColorLUT(viewportId, entry.id, entry.colorLutIndex);
    }
    for (const viewportId of this.viewportIds) {
      segmentation.config.visibility.setSegmentationRepresentationVisibility(viewportId, { segmentationId: entry.id, type: LABELMAP }, entry.visible);
      for (const index of entry.hidden) {
        segmentation.config.visibility.setSegmentIndexVisibility(viewportId, { segmentationId: entry.id, type: LABELMAP }, index, false);
      }
    }
  }

  private waitForVolume(volumeId: string): Promise<void> {
    const volume = cache.getVolume(volumeId) as unknown as { loadStatus?: { loaded?: boolean; callbacks?: (() => void)[] } } | undefined;
    if (!volume || volume.loadStatus?.loaded || !volume.loadStatus) return Promise.resolve();
    return new Promise((resolve) => {
      volume.loadStatus?.callbacks?.push(() => resolve());
    });
  }

  /** Build a labelmap from HU ranges of the loaded volume. */
  async createThreshold(): Promise<string | null> {
    const volumeId = this.volumeId;
    if (!volumeId) return null;
    this.createButton.disabled = true;
    replace(this.list, h('p', { class: 'muted small', role: 'status' }, 'Waiting for all slices…'));
    await this.waitForVolume(volumeId);
    const segmentationId = uid('seg-threshold');
    const labelmap = volumeLoader.createAndCacheDerivedLabelmapVolume(volumeId, { volumeId: segmentationId });
    const source = cache.getVolume(volumeId);
    const sourceVoxels = source?.voxelManager;
    const targetVoxels = labelmap.voxelManager;
    if (!sourceVoxels || !targetVoxels) {
      this.createButton.disabled = false;
      this.draw();
      return null;
    }
    const scalars = sourceVoxels.getCompleteScalarDataArray?.() as ArrayLike<number> | undefined;
    const length = scalars ? scalars.length : sourceVoxels.getScalarDataLength();
    const labels = new Uint8Array(length);
    let labelled = 0;
    for (let i = 0; i < length; i += 1) {
      const value = scalars ? (scalars[i] as number) : (sourceVoxels.getAtIndex(i) as number);
      const label = thresholdLabel(value, THRESHOLD_SEGMENTS);
      labels[i] = label;
      if (label) labelled += 1;
    }
    if (targetVoxels.setCompleteScalarDataArray) targetVoxels.setCompleteScalarDataArray(labels);
    else for (let i = 0; i < length; i += 1) if (labels[i]) targetVoxels.setAtIndex(i, labels[i]);
    segmentation.addSegmentations([{
      segmentationId,
      representation: { type: LABELMAP, data: { volumeId: segmentationId } },
      config: {
        label: 'HU threshold',
        segments: Object.fromEntries(THRESHOLD_SEGMENTS.map((s) => [s.index, { label: s.label, segmentIndex: s.index, active: s.index === 1, locked: false, cachedStats: {} }])),
      },
    }]);
    const entry: SegmentationEntry = {
      id: segmentationId, name: 'HU threshold', visible: true, hidden: new Set(),
      segments: THRESHOLD_SEGMENTS.map((s) => ({ index: s.index, label: s.label })),
    };
    this.entries.push(entry);
    this.represent(entry);
    segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(segmentationId);
    this.applyOpacity();
    this.createButton.disabled = false;
    this.draw();
    this.render();
    this.announce(`Segmentation created: ${labelled} voxels labelled.`);
    this.element.dataset.voxels = String(labelled);
    return segmentationId;
  }

  /**
   * Show a DICOM SEG (e.g. an AI result written back to the PACS) as a labelmap on the volume.
   * Each frame lands on the slice of the source image it references, or else on the slice at
   * its plane position.
   */
  async addFromDicomSeg(name: string, buffer: ArrayBuffer): Promise<string | null> {
    const volumeId = this.volumeId;
    if (!volumeId) return null;
    await this.waitForVolume(volumeId);
    const volume = cache.getVolume(volumeId);
    if (!volume) return null;
    const decoded = segDecode(buffer);
    const [columns, rows, depth] = volume.dimensions;
    if (decoded.columns !== columns || decoded.rows !== rows) {
      throw new SegDecodeError(`SEG is ${decoded.columns} x ${decoded.rows}, the series ${columns} x ${rows}`);
    }
    const sliceBySop = new Map<string, number>();
    volume.imageIds.forEach((imageId, index) => {
      const sop = /\/instances\/([0-9.]+)\/frames\//.exec(imageId)?.[1];
      if (sop) sliceBySop.set(sop, index);
    });
    const slicePosition = (position: readonly number[]): number => {
      const k = volume.direction.slice(6, 9);
      const offset = [0, 1, 2].map((i) => (position[i] ?? 0) - (volume.origin[i] ?? 0));
      return Math.round((offset[0]! * k[0]! + offset[1]! * k[1]! + offset[2]! * k[2]!) / volume.spacing[2]);
    };
    const segmentationId = uid('seg-dicom');
    const labelmap = volumeLoader.createAndCacheDerivedLabelmapVolume(volumeId, { volumeId: segmentationId });
    const target = labelmap.voxelManager;
    const sliceSize = columns * rows;
    const labels = new Uint8Array(sliceSize * depth);
    let labelled = 0;
    for (const frame of decoded.frames) {
      const slice = (frame.referencedSopUid !== null ? sliceBySop.get(frame.referencedSopUid) : undefined)
        ?? (frame.position ? slicePosition(frame.position) : -1);
      if (slice < 0 || slice >= depth) continue;
      for (const pixel of frame.pixels) {
        labels[slice * sliceSize + pixel] = frame.segmentNumber;
        labelled += 1;
      }
    }
    if (target?.setCompleteScalarDataArray) target.setCompleteScalarDataArray(labels);
    else for (let i = 0; i < labels.length; i += 1) if (labels[i]) target?.setAtIndex(i, labels[i]);
    const segments = decoded.segments.map((s) => ({ index: s.number, label: s.label, source: s }));
    const colorLut: number[][] = [[0, 0, 0, 0]];
    this.colours(segments, colorLut);
    segmentation.addSegmentations([{
      segmentationId,
      representation: { type: LABELMAP, data: { volumeId: segmentationId } },
      config: {
        label: name,
        segments: Object.fromEntries(segments.map((s) => [s.index, { label: s.label, segmentIndex: s.index, active: false, locked: true, cachedStats: {} }])),
      },
    }]);
    const entry: SegmentationEntry = {
      id: segmentationId, name: decoded.description || name, visible: true, hidden: new Set(), segments, colorLut,
      ai: decoded.segments.some(segmentIsAi),
    };
    this.entries.push(entry);
    this.represent(entry);
    segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(segmentationId);
    this.applyOpacity();
    this.draw();
    this.render();
    this.element.dataset.dicomSeg = String(labelled);
    return segmentationId;
  }

  /** Fill a colour table (index = segment number) by each segment's role under the current review. */
  private colours(segments: SegmentationEntry['segments'], lut: number[][]): void {
    const colours = segmentColours(segments.flatMap((s) => (s.source ? [s.source] : [])), this.review);
    for (const segment of segments) {
      while (lut.length <= segment.index) lut.push([0, 0, 0, 0]);
      lut[segment.index] = colours.get(segment.index) ?? [255, 255, 0, 255];
    }
  }

  /** The clinician's decision on the shown series's AI findings changed: recolour and relabel. */
  setReview(review: AiReviewState): void {
    if (review === this.review) return;
    this.review = review;
    for (const entry of this.entries) {
      if (!entry.colorLut) continue;
      this.colours(entry.segments, entry.colorLut);
      // Cornerstone keeps its own copy of the table: set each segment's colour in it too.
      for (const viewportId of this.viewportIds) {
        for (const segment of entry.segments) {
          const colour = entry.colorLut[segment.index];
          if (colour) segmentation.config.color.setSegmentIndexColor(viewportId, entry.id, segment.index, colour as never);
        }
      }
    }
    this.draw();
    this.render();
  }

  private segmentRoleOf(entry: SegmentationEntry, index: number): SegmentRole | null {
    const source = entry.segments.find((s) => s.index === index)?.source;
    return source ? segmentRole(source, this.review) : null;
  }

  private applyOpacity(): void {
    const alpha = Number(this.opacity.value) / 100;
    segmentation.config.style.setStyle({ type: LABELMAP }, { fillAlpha: alpha, fillAlphaInactive: alpha, renderOutline: true, outlineOpacity: Math.min(1, alpha + 0.3) });
    this.element.dataset.opacity = this.opacity.value;
    this.render();
  }

  private setVisible(entry: SegmentationEntry, visible: boolean): void {
    entry.visible = visible;
    this.notifyAi();
    for (const viewportId of this.viewportIds) {
      segmentation.config.visibility.setSegmentationRepresentationVisibility(viewportId, { segmentationId: entry.id, type: LABELMAP }, visible);
    }
    this.render();
  }

  private setSegmentVisible(entry: SegmentationEntry, index: number, visible: boolean): void {
    if (visible) entry.hidden.delete(index);
    else entry.hidden.add(index);
    for (const viewportId of this.viewportIds) {
      segmentation.config.visibility.setSegmentIndexVisibility(viewportId, { segmentationId: entry.id, type: LABELMAP }, index, visible);
    }
    this.render();
  }

  private colour(entry: SegmentationEntry, index: number): string {
    const own = entry.colorLut?.[index];
    if (own) return `rgb(${own[0]}, ${own[1]}, ${own[2]})`;
    const viewportId = this.viewportIds[0];
    if (!viewportId) return '#888';
    try {
      const rgba = segmentation.config.color.getSegmentIndexColor(viewportId, entry.id, index);
      return `rgb(${rgba[0]}, ${rgba[1]}, ${rgba[2]})`;
    } catch {
      return '#888';
    }
  }

  private notifyAi(): void {
    this.onAiOverlay(this.entries.some((entry) => entry.ai && entry.visible) ? this.review : null);
  }

  private draw(): void {
    this.notifyAi();
    if (this.entries.length === 0) {
      replace(this.list, h('p', { class: 'muted small' }, this.volumeId
        ? 'No segmentation yet. AI overlays appear here after an analysis; “HU threshold” makes a quick one.'
        : 'Segmentation overlays need a CT or MR volume.'));
      return;
    }
    replace(this.list, ...this.entries.map((entry) => {
      const toggleId = uid('seg-vis');
      const toggle = h('input', { type: 'checkbox', id: toggleId, checked: entry.visible, 'data-segmentation': entry.id });
      toggle.addEventListener('change', () => this.setVisible(entry, toggle.checked));
      return h('div', {
        class: 'seg-entry', 'data-segmentation': entry.id, 'data-source': entry.id.startsWith('seg-dicom') ? 'dicom-seg' : 'threshold',
        'data-review': entry.ai ? this.review : null,
      },
        h('div', { class: 'check' }, toggle, h('label', { for: toggleId }, ` ${entry.name}`)),
        entry.ai ? h('p', { class: `seg-review seg-review-${this.review}` }, reviewLabel(this.review)) : null,
        h('ul', { class: 'segments' }, ...entry.segments.map((segment) => {
          const segmentId = uid('seg-idx');
          const box = h('input', { type: 'checkbox', id: segmentId, checked: !entry.hidden.has(segment.index), 'data-segment': String(segment.index) });
          box.addEventListener('change', () => this.setSegmentVisible(entry, segment.index, box.checked));
          const swatch = h('span', { class: 'swatch', 'aria-hidden': 'true' });
          swatch.style.background = this.colour(entry, segment.index);
          return h('li', { class: 'check', 'data-role': this.segmentRoleOf(entry, segment.index) }, box, swatch, h('label', { for: segmentId }, segment.label));
        })));
    }), this.legend());
  }

  /** What the colours of the SEG overlays mean (shown once a SEG is overlaid). */
  private legend(): HTMLElement | null {
    if (!this.entries.some((entry) => entry.colorLut)) return null;
    return h('ul', { class: 'seg-legend', 'aria-label': 'Overlay colours' }, ...ROLE_LEGEND.map(([role, text]) => {
      const swatch = h('span', { class: 'swatch', 'aria-hidden': 'true' });
      const [r, g, b] = roleColour(role, 0);
      swatch.style.background = `rgb(${r}, ${g}, ${b})`;
      return h('li', { 'data-role': role }, swatch, ` ${text}`);
    }));
  }

  destroy(): void {
    this.detach();
    for (const entry of this.entries) {
      try {
        segmentation.removeSegmentation(entry.id);
      } catch {
        // Nothing to remove.
      }
      cache.removeVolumeLoadObject(entry.id);
    }
    this.entries.length = 0;
  }
}
