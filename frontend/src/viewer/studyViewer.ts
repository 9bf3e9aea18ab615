/**
 * The study viewer: series thumbnails, a viewport grid (one stack or volume view, or axial /
 * sagittal / coronal MPR for CT and MR volumes), window/level with CT presets, zoom and pan,
 * length and ROI measurements in HU, and segmentation overlays. init() builds everything;
 * destroy() releases the rendering engine, tool group, cached images and listeners.
 */

import {
  Enums, RenderingEngine, type Types, cache, eventTarget, imageLoader, setUseCPURendering, setVolumesForViewports, utilities as csUtils,
  volumeLoader,
} from '@cornerstonejs/core';
import { wadors } from '@cornerstonejs/dicom-image-loader';
import {
  EllipticalROITool, Enums as ToolEnums, LengthTool, PanTool, ProbeTool, RectangleROITool, StackScrollTool,
  ToolGroupManager, WindowLevelTool, ZoomTool,
} from '@cornerstonejs/tools';
import type { Types as ToolTypes } from '@cornerstonejs/tools';
import { thumbnail } from '../components/studies';
import type { ViewerConfig } from '../config';
import { h, replace, uid } from '../lib/dom';
import {
  type DicomJson, SEG_SOP_CLASS, type SeriesInfo, TAG, frameImageIds, instancesSort, seriesInfoParse, seriesIsVolumetric, tagNumbers,
  tagPersonName, tagString, tagStrings,
} from './dicomJson';
import { type AiFindingsLoader, AiFindingsModule, type AiFindingsReviewFactory } from './aiFindings';
import { segInstanceFetch, segInstancesFor } from './dicomSeg';
import { HeatmapModule } from './heatmap';
import { type SrDocument, SrReportModule, srDocumentParse } from './srReport';
import { segThumbnail } from './segThumbnail';
import { instanceWindowDefault, shownSliceFirst, shownSlices, volumeRenderPacer } from './loading';
import { type MeasurementRow, MeasurementsModule } from './measurements';
import type { ViewerModule } from './module';
import { CT_PRESETS, type WindowPreset, presetMatch, presetToVoi, voiToWindow } from './presets';
import { noduleToolRegister } from './noduleTool';
import { type EdgeMarkers, cameraMarkers, orientationMarkers, patientOrientationMarkers } from './orientation';
import { type StudyPrefetch, dicomJsonFetch as dicomJson, seriesToShow } from './prefetch';
import { runtimeInit } from './runtime';
import { reviewLabel } from './segColours';
import { SegmentationModule } from './segmentation';

export interface ViewerOptions {
  readonly config: ViewerConfig;
  readonly studyUid: string;
  readonly seriesUid: string | null;
  /** Open the series at this image (SOP Instance UID), e.g. a lesion's key slice. */
  readonly instanceUid?: string | null;
  readonly announce: (text: string, kind?: 'info' | 'error') => void;
  /** The user picked another series (the page keeps it in the URL). */
  readonly onSeriesChange?: (seriesUid: string) => void;
  /** AI findings of a series from the reports (the page knows the API; the viewer does not). */
  readonly aiFindings?: AiFindingsLoader;
  /** Accept, edit or reject the shown series's AI findings (clinicians). */
  readonly aiFindingsReview?: AiFindingsReviewFactory;
  /** The series list and first metadata, already asked for by the page (read instead of asking again). */
  readonly prefetch?: StudyPrefetch;
}

type Layout = 'single' | 'mpr';
type Orientation = 'axial' | 'sagittal' | 'coronal' | 'acquisition';

interface ToolChoice {
  readonly name: string;
  readonly label: string;
  readonly key: string;
  readonly annotation: boolean;
}

const TOOLS: readonly ToolChoice[] = [
  { name: WindowLevelTool.toolName, label: 'Window', key: 'w', annotation: false },
  { name: PanTool.toolName, label: 'Pan', key: 'p', annotation: false },
  { name: ZoomTool.toolName, label: 'Zoom', key: 'z', annotation: false },
  { name: LengthTool.toolName, label: 'Length', key: 'l', annotation: true },
  { name: EllipticalROITool.toolName, label: 'Ellipse ROI', key: 'e', annotation: true },
  { name: RectangleROITool.toolName, label: 'Rect ROI', key: 'r', annotation: true },
  { name: ProbeTool.toolName, label: 'Probe', key: 'b', annotation: true },
];

const ORIENTATION_LABEL: Readonly<Record<Orientation, string>> = {
  axial: 'Axial', sagittal: 'Sagittal', coronal: 'Coronal', acquisition: 'Image',
};

const EDGES = ['top', 'right', 'bottom', 'left'] as const;

/** What the corner annotations and orientation markers need from the shown series. */
interface SeriesGeometry {
  readonly patient: string;
  readonly studyDate: string;
  readonly seriesText: string;
  /** ImageOrientationPatient of the images (stacks), or null when absent (projection films). */
  readonly orientation: readonly number[] | null;
  readonly patientOrientation: readonly string[];
  /** ImagePositionPatient of each image id, in stack order. */
  readonly positions: readonly (readonly number[] | null)[];
}

const NO_GEOMETRY: SeriesGeometry = { patient: '', studyDate: '', seriesText: '', orientation: null, patientOrientation: [], positions: [] };

function dicomDate(value: string): string {
  return /^\d{8}$/.test(value) ? `${value.slice(0, 4)}-${value.slice(4, 6)}-${value.slice(6, 8)}` : value;
}

/** What the viewer reads and sets on Cornerstone's streaming volume (not in its public types). */
interface StreamingVolume {
  autoRenderOnLoad: boolean;
  readonly cachedFrames?: readonly unknown[];
  readonly framesProcessed?: number;
  getImageIdIndex(imageId: string): number | undefined;
  load(done: () => void): void;
}

/** How often the views of a volume still arriving are redrawn (the MPR views fill in). */
const VOLUME_REDRAW_INTERVAL_MS = 1000;
/** The longest the views wait for their first slice before they are drawn without it. */
const SHOWN_SLICE_WAIT_MS = 3000;
/** The series thumbnails wait for the first image, but no longer than this. */
const THUMBNAILS_LATEST_MS = 5000;
/** The longest the picture of the stack preview stays over a volume view that has not drawn yet. */
const PREVIEW_COVER_LATEST_MS = 5000;

/**
 * Performance marks (User Timing) of a viewer's first series, for bench/bench_viewer.py and the
 * browser tests: the series metadata has arrived; the slice shown has been drawn with its pixels;
 * every slice of the volume has arrived (volumetric series).
 */
export const VIEWER_MARKS = { seriesMetadata: 'cdss:series-metadata', firstImage: 'cdss:first-image', volumeLoaded: 'cdss:volume-loaded' } as const;

export class StudyViewer implements ViewerModule {
  readonly element: HTMLElement;
  private readonly options: ViewerOptions;
  private readonly root: string;
  private readonly engineId = uid('cdss-engine');
  private readonly toolGroupId = uid('cdss-tools');
  private engine: RenderingEngine | null = null;
  private toolGroup: ToolTypes.IToolGroup | null = null;
  private readonly grid: HTMLElement;
  private readonly seriesList: HTMLElement;
  private readonly toolbar: HTMLElement;
  private readonly status: HTMLElement;
  /** Over the images while a model's overlay is shown: whether a clinician has reviewed it. */
  private readonly aiBanner: HTMLElement;
  private readonly presetButtons = new Map<string, HTMLButtonElement>();
  private readonly toolButtons = new Map<string, HTMLButtonElement>();
  private readonly mprButton: HTMLButtonElement;
  private readonly segmentationModule: SegmentationModule;
  private readonly measurementsModule: MeasurementsModule;
  private readonly aiModule: AiFindingsModule;
  private readonly heatmapModule: HeatmapModule;
  private readonly srModule: SrReportModule;
  private series: SeriesInfo[] = [];
  private currentSeries: string | null = null;
  private modality = '';
  private imageIds: string[] = [];
  private volumeId: string | null = null;
  private layout: Layout = 'single';
  private viewportIds: string[] = [];
  private activeViewportId: string | null = null;
  private activeTool = WindowLevelTool.toolName;
  private voi: { lower: number; upper: number } | null = null;
  private readonly cleanups: (() => void)[] = [];
  private destroyed = false;
  private loadErrors = 0;
  private firstImageDrawn = false;
  private geometry: SeriesGeometry = NO_GEOMETRY;
  private volumeCleanup: (() => void) | null = null;
  /** The stack viewport that shows a volume's first slice while the volume streams in. */
  private previewId: string | null = null;
  private readonly thumbs = new Map<string, HTMLElement>();
  private thumbsStarted = false;

  constructor(options: ViewerOptions) {
    this.options = options;
    this.root = options.config.dicomwebRoot;
    this.grid = h('div', { class: 'vp-grid', 'data-layout': 'single' });
    this.seriesList = h('ul', { class: 'viewer-series-list', 'aria-label': 'Series' });
    this.status = h('p', { class: 'viewer-status', role: 'status', 'aria-live': 'polite' }, 'Loading study…');
    this.mprButton = h('button', { type: 'button', class: 'btn btn-small', id: 'viewer-mpr', 'aria-pressed': 'false', disabled: true, title: 'Axial, sagittal and coronal views (M)' }, 'MPR');
    this.mprButton.addEventListener('click', () => void this.setLayout(this.layout === 'mpr' ? 'single' : 'mpr'));
    const resetButton = h('button', { type: 'button', class: 'btn btn-small', id: 'viewer-reset', title: 'Reset view (0)' }, 'Reset');
    resetButton.addEventListener('click', () => this.reset());
    this.toolbar = h('div', { class: 'viewer-toolbar', role: 'toolbar', 'aria-label': 'Viewer tools' },
      h('div', { class: 'tool-group', role: 'group', 'aria-label': 'Mouse tool' }, ...TOOLS.map((tool) => {
        const button = h('button', { type: 'button', class: 'btn btn-small tool', 'data-tool': tool.name, 'aria-pressed': String(tool.name === this.activeTool), title: `${tool.label} (${tool.key.toUpperCase()})` }, tool.label);
        button.addEventListener('click', () => this.setTool(tool.name));
        this.toolButtons.set(tool.name, button);
        return button;
      })),
      h('div', { class: 'tool-group', role: 'group', 'aria-label': 'Window presets' }, ...CT_PRESETS.map((preset) => {
        const button = h('button', { type: 'button', class: 'btn btn-small preset', 'data-preset': preset.id, 'aria-pressed': 'false', title: `W ${preset.width} / L ${preset.center} (${preset.key})` }, preset.label);
        button.addEventListener('click', () => this.applyPreset(preset));
        this.presetButtons.set(preset.id, button);
        return button;
      })),
      h('div', { class: 'tool-group', role: 'group', 'aria-label': 'Layout' }, this.mprButton, resetButton),
    );
    this.segmentationModule = new SegmentationModule({ announce: (text) => options.announce(text), render: () => this.engine?.render() });
    this.aiBanner = h('p', { class: 'viewer-ai-banner', id: 'viewer-ai-banner', hidden: true });
    this.segmentationModule.onAiOverlay = (state) => {
      this.aiBanner.hidden = state === null;
      this.aiBanner.dataset.review = state ?? '';
      this.aiBanner.textContent = state === null ? '' : `${reviewLabel(state)}: the coloured overlay was made by an AI model.`;
    };
    this.measurementsModule = new MeasurementsModule();
    this.measurementsModule.rerender = () => this.engine?.render();
    this.measurementsModule.onShow = (row) => void this.showMeasurement(row);
    this.aiModule = new AiFindingsModule(options.aiFindings ?? null, options.aiFindingsReview ?? null);
    this.heatmapModule = new HeatmapModule();
    this.srModule = new SrReportModule();
    this.aiModule.onHeatmaps = (heatmaps) => {
      this.heatmapModule.setHeatmaps(heatmaps);
      for (const viewportId of this.viewportIds) this.updateOverlay(viewportId);
    };
    this.aiModule.onReview = (state) => this.segmentationModule.setReview(state);
    this.element = h('div', { class: 'viewer', 'data-state': 'loading', tabindex: '-1' },
      this.toolbar,
      h('div', { class: 'viewer-main' },
        h('aside', { class: 'viewer-series', 'aria-label': 'Series of this study' }, h('h2', { class: 'panel-title' }, 'Series'), this.seriesList),
        h('div', { class: 'viewer-stage' }, this.aiBanner, this.grid, this.status,
          h('p', { class: 'viewer-help hint' }, 'Wheel or ↑/↓: slices · left drag: active tool · right drag: zoom · middle drag: pan · 1–5: presets · M: MPR · 0: reset')),
        // The findings a reader must decide on come first, above the organ and segment list.
        h('aside', { class: 'viewer-side' }, this.aiModule.element, this.heatmapModule.element, this.srModule.element, this.segmentationModule.element, this.measurementsModule.element),
      ),
    );
  }

  async init(): Promise<void> {
    runtimeInit(this.options.config);
    const group = ToolGroupManager.createToolGroup(this.toolGroupId);
    if (!group) throw new Error('tool group could not be created');
    this.toolGroup = group;
    for (const tool of [WindowLevelTool, PanTool, ZoomTool, StackScrollTool, LengthTool, EllipticalROITool, RectangleROITool, ProbeTool]) {
      group.addTool(tool.toolName);
    }
    group.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: ToolEnums.MouseBindings.Wheel }] });
    group.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: ToolEnums.MouseBindings.Secondary }] });
    group.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: ToolEnums.MouseBindings.Auxiliary }] });
    this.setTool(WindowLevelTool.toolName);
    this.segmentationModule.init();
    this.measurementsModule.init();
    this.aiModule.init();
    this.heatmapModule.init();
    this.srModule.init();
    this.cleanups.push(noduleToolRegister({ toolbar: this.toolbar, viewer: this.element, series: () => this.currentSeries, viewport: () => (this.activeViewportId ? this.engine?.getViewport(this.activeViewportId) ?? null : null) }));

    const onKey = (event: KeyboardEvent): void => this.onKey(event);
    this.element.addEventListener('keydown', onKey);
    this.cleanups.push(() => this.element.removeEventListener('keydown', onKey));
    const onLoadError = (): void => {
      this.loadErrors += 1;
      if (this.loadErrors === 1) this.setStatus('Some images could not be loaded from the image server.', 'error');
    };
    eventTarget.addEventListener(Enums.Events.IMAGE_LOAD_ERROR, onLoadError);
    this.cleanups.push(() => eventTarget.removeEventListener(Enums.Events.IMAGE_LOAD_ERROR, onLoadError));
    const thumbsLatest = window.setTimeout(() => this.thumbsStart(), THUMBNAILS_LATEST_MS);
    this.cleanups.push(() => window.clearTimeout(thumbsLatest));
    const resize = new ResizeObserver(() => this.engine?.resize(true, true));
    resize.observe(this.grid);
    this.cleanups.push(() => resize.disconnect());

    try {
      this.series = seriesInfoParse(await (this.options.prefetch?.series ?? dicomJson(`${this.root}/studies/${this.options.studyUid}/series`)));
    } catch {
      this.fail('The study could not be read from the image server, or it is not shared with you.');
      return;
    }
    this.drawSeriesList();
    void this.loadStructuredReports();
    const wanted = seriesToShow(this.series, this.options.seriesUid);
    if (!wanted) {
      this.fail('This study has no series.');
      return;
    }
    await this.loadSeries(wanted.seriesUid);
  }

  private fail(message: string): void {
    this.thumbsStart();
    this.element.dataset.state = 'error';
    this.setStatus(message, 'error');
  }

  private setStatus(message: string, kind: 'info' | 'error' = 'info'): void {
    this.status.textContent = message;
    this.status.className = `viewer-status ${kind === 'error' ? 'viewer-status-error' : ''}`;
    this.status.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  }

  private drawSeriesList(): void {
    replace(this.seriesList, ...this.series.map((series) => {
      const button = h('button', {
        type: 'button', class: 'series-button', 'data-series': series.seriesUid,
        'aria-current': series.seriesUid === this.currentSeries ? 'true' : null,
      },
      this.thumbFor(series),
      h('span', { class: 'series-label' }, `${series.modality}${series.number !== null ? ` #${series.number}` : ''}`, h('br'),
        h('span', { class: 'muted' }, series.description || `${series.instanceCount ?? '?'} images`)));
      button.addEventListener('click', () => {
        if (series.modality === 'SR') {
          this.srModule.element.scrollIntoView({ block: 'nearest' });
          this.options.announce('The signed measurement report is listed beside the images.');
          return;
        }
        if (series.modality === 'SEG') {
          this.options.announce('DICOM SEG overlays open on their source series once the server lists them (see the segmentation panel).');
          return;
        }
        void this.loadSeries(series.seriesUid);
        this.options.onSeriesChange?.(series.seriesUid);
      });
      return h('li', null, button);
    }));
  }

  /**
   * A series's thumbnail, made once (the list is redrawn on every series change). Until the
   * first image is drawn, a placeholder: the PACS renders thumbnails (and a SEG's is drawn from
   * the whole SEG instance), which would share the CPU and the connections with the frames.
   */
  private thumbFor(series: SeriesInfo): HTMLElement {
    let box = this.thumbs.get(series.seriesUid);
    if (!box) {
      box = this.thumbsStarted
        ? this.thumbMake(series)
        : h('span', { class: 'thumb', 'data-thumb': 'waiting' }, h('span', { class: 'thumb-placeholder', 'aria-hidden': 'true' }, series.modality || '?'));
      this.thumbs.set(series.seriesUid, box);
    }
    return box;
  }

  private thumbMake(series: SeriesInfo): HTMLElement {
    return series.modality === 'SEG'
      ? segThumbnail(this.root, this.options.studyUid, series.seriesUid)
      : thumbnail(this.root, this.options.studyUid, series.seriesUid, series.modality);
  }

  /** Fetch the thumbnails now (the first image is drawn, or it will not be soon). */
  private thumbsStart(): void {
    if (this.thumbsStarted || this.destroyed) return;
    this.thumbsStarted = true;
    for (const series of this.series) {
      const waiting = this.thumbs.get(series.seriesUid);
      if (!waiting) continue;
      const made = this.thumbMake(series);
      this.thumbs.set(series.seriesUid, made);
      waiting.replaceWith(made);
    }
  }

  /** Remove the current viewports, volume and segmentation bindings. */
  private teardownViewports(): void {
    this.segmentationModule.detach();
    this.heatmapModule.attach(null);
    if (this.toolGroup && this.engine) {
      for (const viewportId of this.viewportIds) this.toolGroup.removeViewports(this.engineId, viewportId);
    }
    if (this.engine) for (const viewportId of this.viewportIds) this.engine.disableElement(viewportId);
    this.viewportIds = [];
    // Cornerstone reads the flag globally, at each draw: on only while the preview is shown.
    if (this.previewId !== null) setUseCPURendering(false, false);
    this.previewId = null;
    replace(this.grid);
  }

  /**
   * Redraw the views of a streaming volume as its slices arrive (`volumeRenderPacer`), instead of
   * Cornerstone's redraw of every view every 2 % of the slices. Resolves once the slices at
   * `shown` are in, or after SHOWN_SLICE_WAIT_MS (a slow or failed fetch: the views then draw
   * the slice when it comes).
   */
  private watchVolume(volumeId: string, volume: StreamingVolume, total: number, shown: readonly number[]): Promise<void> {
    const pace = volumeRenderPacer(VOLUME_REDRAW_INTERVAL_MS);
    let arrived: () => void = () => undefined;
    const shownIn = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const timer = window.setTimeout(arrived, SHOWN_SLICE_WAIT_MS);
    const onModified = (event: Event): void => {
      const detail = (event as CustomEvent<{ volumeId?: string }>).detail;
      if (detail?.volumeId !== volumeId) return;
      const frames = volume.cachedFrames ?? [];
      if (shown.every((index) => frames[index])) arrived();
      const engine = this.engine;
      if (!engine || this.volumeId !== volumeId || this.viewportIds.length === 0) return;
      const views = this.viewportIds.filter((id) => id !== this.previewId).map((id) => {
        const imageId = (engine.getViewport(id) as Types.IVolumeViewport | undefined)?.getCurrentImageId?.();
        const slice = imageId ? volume.getImageIdIndex(imageId) : undefined;
        return { id, slice, loaded: slice !== undefined && Boolean(frames[slice]) };
      });
      const due = pace(views, (volume.framesProcessed ?? 0) >= total);
      if (due.length) engine.renderViewports(due);
    };
    eventTarget.addEventListener(Enums.Events.IMAGE_VOLUME_MODIFIED, onModified);
    this.volumeCleanup = () => {
      window.clearTimeout(timer);
      arrived();
      eventTarget.removeEventListener(Enums.Events.IMAGE_VOLUME_MODIFIED, onModified);
    };
    return shownIn;
  }

  private releaseSeries(): void {
    this.volumeCleanup?.();
    this.volumeCleanup = null;
    if (this.volumeId) {
      const volume = cache.getVolume(this.volumeId) as unknown as { cancelLoading?: () => void } | undefined;
      volume?.cancelLoading?.();
      cache.removeVolumeLoadObject(this.volumeId);
      csUtils.imageRetrieveMetadataProvider.add(this.volumeId, undefined);
      this.volumeId = null;
    }
    for (const imageId of this.imageIds) wadors.metaDataManager.remove(imageId);
    this.imageIds = [];
  }

  async loadSeries(seriesUid: string): Promise<void> {
    if (this.destroyed) return;
    this.element.dataset.state = 'loading';
    this.setStatus('Loading series…');
    this.teardownViewports();
    this.releaseSeries();
    this.currentSeries = seriesUid;
    this.drawSeriesList();
    this.element.dataset.series = seriesUid;
    this.measurementsModule.setSeries(seriesUid);
    const info = this.series.find((s) => s.seriesUid === seriesUid);
    let instances: DicomJson[];
    try {
      instances = await (this.options.prefetch?.metadata(seriesUid) ?? dicomJson(`${this.root}/studies/${this.options.studyUid}/series/${seriesUid}/metadata`));
    } catch {
      this.fail('The series could not be read from the image server.');
      return;
    }
    if (this.destroyed || this.currentSeries !== seriesUid) return;
    if (!this.firstImageDrawn && performance.getEntriesByName(VIEWER_MARKS.seriesMetadata).length === 0) {
      performance.mark(VIEWER_MARKS.seriesMetadata);
    }
    instances = instancesSort(instances.filter((i) => tagString(i, TAG.sopClassUid) !== SEG_SOP_CLASS));
    if (instances.length === 0) {
      this.fail('This series has no images.');
      return;
    }
    this.modality = info?.modality || tagString(instances[0] as DicomJson, TAG.modality);
    if (this.modality === 'CT') {
      const preset = CT_PRESETS[0] as WindowPreset;
      instances = instances.map((instance) => instanceWindowDefault(instance, preset.center, preset.width));
    }
    const imageIds: string[] = [];
    const positions: (readonly number[] | null)[] = [];
    for (const instance of instances) {
      for (const imageId of frameImageIds(this.root, this.options.studyUid, seriesUid, instance)) {
        wadors.metaDataManager.add(imageId, instance as never);
        imageIds.push(imageId);
        positions.push(tagNumbers(instance, TAG.imagePosition));
      }
    }
    this.imageIds = imageIds;
    const first = instances[0] as DicomJson;
    const orientation = tagNumbers(first, TAG.imageOrientation);
    this.geometry = {
      patient: [tagPersonName(first, TAG.patientName), tagString(first, TAG.patientId)].filter(Boolean).join(' · '),
      studyDate: dicomDate(tagString(first, TAG.studyDate)),
      seriesText: [info?.number !== null && info?.number !== undefined ? `Series ${info.number}` : '', info?.description || tagString(first, TAG.seriesDescription)]
        .filter(Boolean).join(' · '),
      orientation: orientation?.length === 6 ? orientation : null,
      patientOrientation: tagStrings(first, TAG.patientOrientation),
      positions,
    };
    const volumetric = seriesIsVolumetric(this.modality, instances);
    this.element.dataset.mode = volumetric ? 'volume' : 'stack';
    this.mprButton.disabled = !volumetric;
    // The presets are Hounsfield-unit windows: CT only.
    for (const button of this.presetButtons.values()) button.disabled = this.modality !== 'CT';
    this.voi = null;
    try {
      if (volumetric) {
        // The slice shown first, as a stack, before the volume: its frame is asked for now and,
        // without a GPU, one 2-D image draws far sooner than the volume. The volume's loader
        // takes the same image from the cache (one request).
        const preview = this.previewStack();
        const volumeId = `cornerstoneStreamingImageVolume:${uid('vol')}`;
        csUtils.imageRetrieveMetadataProvider.add(volumeId, shownSliceFirst(imageIds.length));
        const volume = await volumeLoader.createAndCacheVolume(volumeId, { imageIds }) as unknown as StreamingVolume;
        this.volumeId = volumeId;
        volume.autoRenderOnLoad = false;
        const shownIn = this.watchVolume(volumeId, volume, imageIds.length, shownSlices(imageIds.length));
        // Called once every slice is in: the moment MPR shows the whole volume.
        volume.load(() => {
          if (performance.getEntriesByName(VIEWER_MARKS.volumeLoaded).length === 0) performance.mark(VIEWER_MARKS.volumeLoaded);
          // Also after a last slice that failed (no volume event then): draw what there is.
          if (this.volumeId === volumeId && this.viewportIds.length) this.engine?.renderViewports(this.viewportIds);
        });
        // The views are drawn once the slice they show first is in: without a GPU, a draw of the
        // empty volume holds the main thread for as long as the first slice takes to arrive.
        await Promise.all([shownIn, preview]);
        if (this.destroyed || this.currentSeries !== seriesUid || this.volumeId !== volumeId) return;
        await this.buildViewports(this.layout);
      } else {
        this.layout = 'single';
        await this.buildViewports('single');
      }
    } catch (error) {
      console.error(error);
      this.fail('The images could not be displayed.');
      return;
    }
    if (this.destroyed) return;
    this.element.dataset.state = 'ready';
    this.setStatus(`${this.modality} · ${imageIds.length} image${imageIds.length === 1 ? '' : 's'}${volumetric ? ' · volume' : ''}`);
    if (volumetric) void this.loadSegOverlays(seriesUid);
    void this.aiModule.show(seriesUid);
    if (this.options.instanceUid && seriesUid === this.options.seriesUid) this.jumpToInstance(instances, this.options.instanceUid);
  }

  /** Bring a measurement into view: a viewport of its plane (MPR when none shows it), at its slice. */
  private async showMeasurement(row: MeasurementRow): Promise<void> {
    if (!this.engine || !row.point) return;
    const ofPlane = (): string | undefined => this.viewportIds.find((id) => {
      const normal = this.engine?.getViewport(id)?.getCamera().viewPlaneNormal;
      if (!row.normal || !normal) return true;
      return Math.abs(normal[0] * (row.normal[0] ?? 0) + normal[1] * (row.normal[1] ?? 0) + normal[2] * (row.normal[2] ?? 0)) > 0.99;
    });
    let target = ofPlane();
    if (!target && this.volumeId !== null && this.layout !== 'mpr') {
      await this.setLayout('mpr');
      target = ofPlane();
    }
    if (!target) return;
    const viewport = this.engine.getViewport(target) as unknown as { jumpToWorld?: (world: Types.Point3) => boolean; render(): void };
    viewport.jumpToWorld?.([...row.point] as Types.Point3);
    viewport.render();
    this.setActiveViewport(target);
    this.updateOverlay(target);
  }

  /** Show the image with this SOP Instance UID in the first viewport (by its position in space). */
  private jumpToInstance(instances: readonly DicomJson[], instanceUid: string): void {
    const instance = instances.find((i) => tagString(i, TAG.sopUid) === instanceUid);
    const position = instance ? tagNumbers(instance, TAG.imagePosition) : null;
    const viewportId = this.viewportIds[0];
    if (!position || position.length !== 3 || !this.engine || !viewportId) return;
    const viewport = this.engine.getViewport(viewportId) as unknown as { jumpToWorld?: (world: Types.Point3) => boolean; render(): void };
    if (viewport.jumpToWorld?.(position as unknown as Types.Point3)) {
      viewport.render();
      this.updateOverlay(viewportId);
    }
  }

  /** The study's DICOM SR documents (signed measurement reports), listed beside the images. */
  private async loadStructuredReports(): Promise<void> {
    const documents: SrDocument[] = [];
    for (const sr of this.series.filter((s) => s.modality === 'SR')) {
      try {
        const instances = await dicomJson(`${this.root}/studies/${this.options.studyUid}/series/${sr.seriesUid}/metadata`);
        documents.push(...instances.map(srDocumentParse));
      } catch (error) {
        console.warn('SR not shown', error);
      }
    }
    if (!this.destroyed) this.srModule.show(documents);
  }

  /** DICOM SEG series of this study that segment the shown series (AI results) as overlays. */
  private async loadSegOverlays(seriesUid: string): Promise<void> {
    const segSeries = this.series.filter((s) => s.modality === 'SEG');
    for (const seg of segSeries) {
      try {
        const instances = await dicomJson(`${this.root}/studies/${this.options.studyUid}/series/${seg.seriesUid}/metadata`);
        for (const ref of segInstancesFor(seriesUid, seg.seriesUid, instances)) {
          if (this.destroyed || this.currentSeries !== seriesUid) return;
          const buffer = await segInstanceFetch(this.root, this.options.studyUid, ref);
          if (this.destroyed || this.currentSeries !== seriesUid) return;
          await this.segmentationModule.addFromDicomSeg(ref.description || seg.description || 'Segmentation (DICOM SEG)', buffer);
          this.options.announce(`Segmentation overlay loaded: ${ref.description || seg.description || 'DICOM SEG'}.`);
        }
      } catch (error) {
        console.warn('SEG overlay not shown', error);
        this.setStatus('A segmentation in this study could not be shown.', 'error');
      }
    }
  }

  private cell(viewportId: string, orientation: Orientation): HTMLElement {
    const element = h('div', { class: 'vp-element', 'data-viewport': viewportId, tabindex: '0', role: 'img', 'aria-label': `${ORIENTATION_LABEL[orientation]} view` });
    element.addEventListener('contextmenu', (event) => event.preventDefault());
    element.addEventListener('focus', () => this.setActiveViewport(viewportId));
    element.addEventListener('mousedown', () => this.setActiveViewport(viewportId));
    return h('div', { class: 'vp', 'data-orientation': orientation, id: `vp-${orientation}` },
      element,
      h('div', { class: 'vp-overlay', 'aria-hidden': 'true' },
        h('span', { class: 'vp-corner vp-tl' }, h('span', { class: 'vp-patient' }, this.geometry.patient), h('span', { class: 'vp-study-date' }, this.geometry.studyDate)),
        h('span', { class: 'vp-corner vp-tr' }, h('span', { class: 'vp-orientation' }, ORIENTATION_LABEL[orientation]), h('span', { class: 'vp-series-text' }, this.geometry.seriesText)),
        h('span', { class: 'vp-corner vp-bl' }, h('span', { class: 'vp-slice' }), h('span', { class: 'vp-position' })),
        h('span', { class: 'vp-corner vp-br' }, h('span', { class: 'vp-window' })),
        ...EDGES.map((edge) => h('span', { class: 'vp-marker', 'data-edge': edge }))),
    );
  }

  /**
   * The rendering engine, made when the first viewport is: its WebGL context takes 0.1 s of the
   * main thread without a GPU, which the first frame's request need not wait for.
   */
  private engineGet(): RenderingEngine | null {
    if (this.destroyed) return null;
    this.engine ??= new RenderingEngine(this.engineId);
    return this.engine;
  }

  private async buildViewports(layout: Layout): Promise<void> {
    const engine = this.engineGet();
    const group = this.toolGroup;
    if (!engine || !group) return;
    // The point the reader was looking at: the new layout opens there, so that the slice with
    // their measurements stays in view (annotations live in world coordinates).
    const keep = this.volumeId !== null && this.viewportIds[0] ? engine.getViewport(this.viewportIds[0])?.getCamera().focalPoint : undefined;
    // The preview's picture stays until the volume's view has drawn: no blank frame between.
    const cover = this.previewId !== null && layout === 'single' ? this.previewCover() : null;
    this.teardownViewports();
    this.layout = layout;
    this.grid.dataset.layout = layout;
    this.element.dataset.layout = layout;
    this.mprButton.setAttribute('aria-pressed', String(layout === 'mpr'));
    const orientations: Orientation[] = this.volumeId === null ? ['acquisition'] : layout === 'mpr' ? ['axial', 'sagittal', 'coronal'] : ['axial'];
    const cells = orientations.map((orientation) => ({ orientation, viewportId: `${this.engineId}-${orientation}` }));
    for (const { orientation, viewportId } of cells) this.grid.appendChild(this.cell(viewportId, orientation));
    if (cover && cells[0]) this.coverUntilDrawn(cover, cells[0].viewportId);
    const inputs: Types.PublicViewportInput[] = cells.map(({ orientation, viewportId }) => ({
      viewportId,
      element: this.grid.querySelector(`[data-viewport="${viewportId}"]`) as HTMLDivElement,
      type: this.volumeId === null ? Enums.ViewportType.STACK : Enums.ViewportType.ORTHOGRAPHIC,
      defaultOptions: {
        background: [0, 0, 0] as Types.Point3,
        ...(this.volumeId === null ? {} : { orientation: orientation as Enums.OrientationAxis }),
      },
    }));
    engine.setViewports(inputs);
    this.viewportIds = cells.map((c) => c.viewportId);
    for (const viewportId of this.viewportIds) group.addViewport(viewportId, this.engineId);
    if (this.volumeId !== null) {
      await setVolumesForViewports(engine, [{ volumeId: this.volumeId }], this.viewportIds);
      if (keep) {
        for (const viewportId of this.viewportIds) {
          (engine.getViewport(viewportId) as unknown as { jumpToWorld?: (world: Types.Point3) => boolean }).jumpToWorld?.([...keep] as Types.Point3);
        }
      }
    } else {
      const viewport = engine.getViewport(this.viewportIds[0] as string) as Types.IStackViewport;
      await viewport.setStack(this.imageIds, Math.floor(this.imageIds.length / 2));
    }
    for (const { viewportId } of cells) this.watchViewport(viewportId);
    if (this.voi) this.setVoi(this.voi);
    else if (this.modality === 'CT') this.applyPreset(CT_PRESETS[0] as WindowPreset);
    this.segmentationModule.attach(this.volumeId, this.volumeId === null ? [] : this.viewportIds);
    this.heatmapModule.attach(this.volumeId === null ? this.grid.querySelector<HTMLElement>('.vp') : null);
    this.setActiveViewport(this.viewportIds[0] ?? null);
    engine.render();
    for (const { viewportId } of cells) this.updateOverlay(viewportId);
  }

  /**
   * A volumetric series's middle slice as a stack viewport in the axial cell, shown while the
   * volume streams in (buildViewports then replaces it). Resolves once the slice is drawn, or
   * at once when it cannot be (the volume's views follow as before).
   */
  private async previewStack(): Promise<void> {
    const middle = shownSlices(this.imageIds.length)[0] ?? 0;
    const first = this.imageIds[middle];
    // Its frame is asked for first, before the engine is made; the stack takes the image from
    // the cache (Cornerstone's options for a stack drawn on the CPU).
    if (first) {
      const options = { priority: -5, requestType: Enums.RequestType.Interaction, useRGBA: true };
      imageLoader.loadAndCacheImage(first, options).catch(() => undefined);
    }
    const engine = this.engineGet();
    const group = this.toolGroup;
    if (!engine || !group || this.imageIds.length === 0) return;
    this.teardownViewports();
    const viewportId = `${this.engineId}-preview`;
    this.grid.appendChild(this.cell(viewportId, 'axial'));
    // Drawn on the CPU (a canvas 2-D image): without a GPU, a WebGL draw of the slice and its copy
    // to the page's canvas took 0.1-0.4 s more. The volume's views draw with WebGL as before.
    setUseCPURendering(true, false);
    this.previewId = viewportId;
    engine.setViewports([{
      viewportId,
      element: this.grid.querySelector(`[data-viewport="${viewportId}"]`) as HTMLDivElement,
      type: Enums.ViewportType.STACK,
      defaultOptions: { background: [0, 0, 0] as Types.Point3 },
    }]);
    this.viewportIds = [viewportId];
    group.addViewport(viewportId, this.engineId);
    this.watchViewport(viewportId);
    this.setActiveViewport(viewportId);
    const viewport = engine.getViewport(viewportId) as Types.IStackViewport;
    // setStack resolves once the draw is asked for (the next animation frame), not drawn: the
    // volume's views, which replace the preview, wait for the draw itself.
    const element = this.grid.querySelector<HTMLElement>(`[data-viewport="${viewportId}"]`);
    let onDrawn: () => void = () => undefined;
    const drawn = new Promise<void>((resolve) => {
      const latest = window.setTimeout(() => onDrawn(), SHOWN_SLICE_WAIT_MS);
      const onRendered = (): void => {
        if (viewport.getCornerstoneImage()) onDrawn();
      };
      onDrawn = () => {
        window.clearTimeout(latest);
        element?.removeEventListener(Enums.Events.IMAGE_RENDERED, onRendered);
        resolve();
      };
      element?.addEventListener(Enums.Events.IMAGE_RENDERED, onRendered);
    });
    try {
      await viewport.setStack(this.imageIds, middle);
    } catch (error) {
      onDrawn();
      console.warn('stack preview not shown', error);
      return;
    }
    await drawn;
    if (this.previewId !== viewportId) return;
    // The CT window comes from the metadata (instanceWindowDefault); an image's own window is
    // replaced by the preset as the volume's views are.
    if (this.modality === 'CT') {
      const range = presetToVoi(CT_PRESETS[0] as WindowPreset);
      const shown = viewport.getProperties().voiRange;
      if (!shown || Math.abs(shown.lower - range.lower) > 0.01 || Math.abs(shown.upper - range.upper) > 0.01) this.applyPreset(CT_PRESETS[0] as WindowPreset);
    }
    this.updateOverlay(viewportId);
  }

  /** A still copy of the preview's picture (null when it has none). */
  private previewCover(): HTMLCanvasElement | null {
    const shown = this.grid.querySelector<HTMLCanvasElement>('.vp-element canvas');
    if (!shown || shown.width === 0 || shown.height === 0) return null;
    const cover = document.createElement('canvas');
    cover.className = 'vp-cover';
    cover.setAttribute('aria-hidden', 'true');
    cover.width = shown.width;
    cover.height = shown.height;
    cover.getContext('2d')?.drawImage(shown, 0, 0);
    return cover;
  }

  /** Lay `cover` over a new viewport's cell until the viewport has drawn its slice. */
  private coverUntilDrawn(cover: HTMLCanvasElement, viewportId: string): void {
    const element = this.grid.querySelector<HTMLElement>(`[data-viewport="${viewportId}"]`);
    if (!element) return;
    element.after(cover);
    const remove = (): void => {
      window.clearTimeout(latest);
      element.removeEventListener(Enums.Events.IMAGE_RENDERED, onRendered);
      cover.remove();
    };
    const onRendered = (): void => {
      const viewport = this.engine?.getViewport(viewportId);
      if (!viewport || this.sliceLoaded(viewport)) remove();
    };
    const latest = window.setTimeout(remove, PREVIEW_COVER_LATEST_MS);
    element.addEventListener(Enums.Events.IMAGE_RENDERED, onRendered);
  }

  private watchViewport(viewportId: string): void {
    const element = this.grid.querySelector<HTMLElement>(`[data-viewport="${viewportId}"]`);
    if (!element) return;
    const update = (): void => this.updateOverlay(viewportId);
    const onVoi = (event: Event): void => {
      const range = (event as CustomEvent<{ range?: { lower: number; upper: number } }>).detail?.range;
      if (range) {
        this.voi = { lower: range.lower, upper: range.upper };
        this.syncVoi(viewportId);
        this.markPreset();
      }
      update();
    };
    for (const name of [Enums.Events.VOLUME_NEW_IMAGE, Enums.Events.STACK_NEW_IMAGE, Enums.Events.CAMERA_MODIFIED, Enums.Events.IMAGE_RENDERED]) {
      element.addEventListener(name, update);
    }
    element.addEventListener(Enums.Events.VOI_MODIFIED, onVoi);
    if (!this.firstImageDrawn) {
      const onRendered = (): void => {
        if (this.firstImageDrawn) {
          element.removeEventListener(Enums.Events.IMAGE_RENDERED, onRendered);
          return;
        }
        const viewport = this.engine?.getViewport(viewportId);
        if (!viewport || !this.sliceLoaded(viewport)) return;
        this.firstImageDrawn = true;
        element.removeEventListener(Enums.Events.IMAGE_RENDERED, onRendered);
        const mark = performance.mark(VIEWER_MARKS.firstImage, { detail: { mode: this.element.dataset.mode ?? '', slices: this.imageIds.length } });
        this.element.dataset.firstImageMs = String(Math.round(mark.startTime));
        this.thumbsStart();
      };
      element.addEventListener(Enums.Events.IMAGE_RENDERED, onRendered);
    }
  }

  /**
   * Whether the slice a viewport shows has its pixels: a stack viewport renders only loaded
   * images; a streaming volume fills in slice by slice, so the shown slice must have arrived
   * (any loaded slice, for a view across the acquisition planes).
   */
  private sliceLoaded(viewport: Types.IViewport): boolean {
    if (this.volumeId === null || viewport.id === this.previewId) return Boolean((viewport as Types.IStackViewport).getCornerstoneImage());
    const volume = cache.getVolume(this.volumeId) as unknown as {
      cachedFrames?: readonly unknown[]; framesLoaded?: number; getImageIdIndex(imageId: string): number | undefined;
    } | undefined;
    if (!volume) return false;
    const imageId = (viewport as Types.IVolumeViewport).getCurrentImageId();
    const index = imageId ? volume.getImageIdIndex(imageId) : undefined;
    return index !== undefined ? Boolean(volume.cachedFrames?.[index]) : (volume.framesLoaded ?? 0) > 0;
  }

  /** Keep the window the same in every MPR view. */
  private syncVoi(sourceViewportId: string): void {
    if (!this.voi || !this.engine) return;
    for (const viewportId of this.viewportIds) {
      if (viewportId === sourceViewportId) continue;
      const viewport = this.engine.getViewport(viewportId) as Types.IVolumeViewport | Types.IStackViewport | undefined;
      const current = viewport?.getProperties()?.voiRange;
      if (viewport && (!current || Math.abs(current.lower - this.voi.lower) > 0.01 || Math.abs(current.upper - this.voi.upper) > 0.01)) {
        (viewport as Types.IStackViewport).setProperties({ voiRange: this.voi }, true as never);
        viewport.render();
      }
    }
  }

  private updateOverlay(viewportId: string): void {
    const viewport = this.engine?.getViewport(viewportId);
    const cell = this.grid.querySelector<HTMLElement>(`[data-viewport="${viewportId}"]`)?.parentElement;
    if (!viewport || !cell) return;
    let index = 0;
    let count = 0;
    try {
      index = viewport.getSliceIndex();
      count = viewport.getNumberOfSlices();
    } catch {
      return;
    }
    const slice = cell.querySelector<HTMLElement>('.vp-slice');
    if (slice) slice.textContent = count ? `${index + 1} / ${count}` : '';
    cell.dataset.sliceIndex = String(index);
    cell.dataset.sliceCount = String(count);
    const range = (viewport as Types.IStackViewport).getProperties?.()?.voiRange;
    const windowText = cell.querySelector<HTMLElement>('.vp-window');
    if (range && windowText) {
      const w = voiToWindow(range);
      windowText.textContent = `W ${Math.round(w.width)} L ${Math.round(w.center)}`;
    }
    const position = cell.querySelector<HTMLElement>('.vp-position');
    if (position) position.textContent = this.slicePositionText(viewport, index);
    const markers = this.markersFor(viewport);
    for (const edge of EDGES) {
      const marker = cell.querySelector<HTMLElement>(`.vp-marker[data-edge="${edge}"]`);
      if (marker) marker.textContent = markers?.[edge] ?? '';
    }
    cell.dataset.markers = markers ? EDGES.map((edge) => markers[edge]).join(' ') : '';
    if (this.volumeId === null) this.heatmapModule.update(viewport as Types.IStackViewport);
  }

  /**
   * The patient direction at each edge: from the camera for a volume (it follows the MPR plane),
   * from ImageOrientationPatient for a stack, else from PatientOrientation (projection films).
   */
  private markersFor(viewport: Types.IViewport): EdgeMarkers | null {
    if (this.volumeId !== null) {
      const camera = viewport.getCamera();
      return camera.viewUp && camera.viewPlaneNormal ? cameraMarkers(camera.viewUp, camera.viewPlaneNormal) : null;
    }
    if (this.geometry.orientation) return orientationMarkers(this.geometry.orientation);
    return patientOrientationMarkers(this.geometry.patientOrientation);
  }

  /** The slice's location along the view's main patient axis, in mm (none for a film). */
  private slicePositionText(viewport: Types.IViewport, index: number): string {
    let point: readonly number[] | null | undefined;
    let normal: readonly number[] | undefined;
    if (this.volumeId !== null) {
      const camera = viewport.getCamera();
      point = camera.focalPoint;
      normal = camera.viewPlaneNormal;
    } else if (this.geometry.orientation) {
      point = this.geometry.positions[index];
      const o = this.geometry.orientation;
      normal = [o[1]! * o[5]! - o[2]! * o[4]!, o[2]! * o[3]! - o[0]! * o[5]!, o[0]! * o[4]! - o[1]! * o[3]!];
    }
    if (!point || !normal) return '';
    let axis = 0;
    for (const k of [1, 2]) if (Math.abs(normal[k] ?? 0) > Math.abs(normal[axis] ?? 0)) axis = k;
    return `${['x', 'y', 'z'][axis]} ${(point[axis] ?? 0).toFixed(1)} mm`;
  }

  private setActiveViewport(viewportId: string | null): void {
    this.activeViewportId = viewportId;
    for (const cell of this.grid.querySelectorAll<HTMLElement>('.vp')) {
      cell.classList.toggle('vp-active', cell.querySelector(`[data-viewport="${viewportId}"]`) !== null);
    }
  }

  setTool(toolName: string): void {
    const group = this.toolGroup;
    if (!group) return;
    const previous = TOOLS.find((t) => t.name === this.activeTool);
    if (previous && previous.name !== toolName) {
      if (previous.annotation) group.setToolPassive(previous.name);
      else if (previous.name === PanTool.toolName) group.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: ToolEnums.MouseBindings.Auxiliary }] });
      else if (previous.name === ZoomTool.toolName) group.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: ToolEnums.MouseBindings.Secondary }] });
      else group.setToolPassive(previous.name);
    }
    const bindings = [{ mouseButton: ToolEnums.MouseBindings.Primary }];
    if (toolName === PanTool.toolName) bindings.push({ mouseButton: ToolEnums.MouseBindings.Auxiliary });
    if (toolName === ZoomTool.toolName) bindings.push({ mouseButton: ToolEnums.MouseBindings.Secondary });
    group.setToolActive(toolName, { bindings });
    this.activeTool = toolName;
    this.element.dataset.tool = toolName;
    for (const [name, button] of this.toolButtons) button.setAttribute('aria-pressed', String(name === toolName));
  }

  private setVoi(range: { lower: number; upper: number }): void {
    this.voi = range;
    for (const viewportId of this.viewportIds) {
      const viewport = this.engine?.getViewport(viewportId) as Types.IStackViewport | undefined;
      viewport?.setProperties({ voiRange: range });
      viewport?.render();
      this.updateOverlay(viewportId);
    }
    this.markPreset();
  }

  applyPreset(preset: WindowPreset): void {
    this.setVoi(presetToVoi(preset));
    this.element.dataset.preset = preset.id;
  }

  private markPreset(): void {
    const match = this.voi ? presetMatch(this.voi) : null;
    this.element.dataset.preset = match?.id ?? '';
    for (const [id, button] of this.presetButtons) button.setAttribute('aria-pressed', String(id === match?.id));
  }

  async setLayout(layout: Layout): Promise<void> {
    if (this.volumeId === null || layout === this.layout && this.viewportIds.length) return;
    await this.buildViewports(layout);
    this.options.announce(layout === 'mpr' ? 'Showing axial, sagittal and coronal views.' : 'Showing the axial view.');
  }

  reset(): void {
    for (const viewportId of this.viewportIds) {
      const viewport = this.engine?.getViewport(viewportId);
      viewport?.resetCamera();
    }
    if (this.modality === 'CT') this.applyPreset(CT_PRESETS[0] as WindowPreset);
    this.engine?.render();
  }

  scroll(delta: number): void {
    const viewport = this.activeViewportId ? this.engine?.getViewport(this.activeViewportId) : undefined;
    if (!viewport) return;
    csUtils.scroll(viewport, { delta });
  }

  private onKey(event: KeyboardEvent): void {
    const target = event.target as HTMLElement;
    if (['INPUT', 'SELECT', 'TEXTAREA'].includes(target.tagName) || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    if (key === 'ArrowUp' || key === 'ArrowDown' || key === 'PageUp' || key === 'PageDown') {
      if (target.tagName === 'BUTTON' && (key === 'ArrowUp' || key === 'ArrowDown')) return;
      event.preventDefault();
      const step = key.startsWith('Page') ? 10 : 1;
      this.scroll(key === 'ArrowUp' || key === 'PageUp' ? -step : step);
      return;
    }
    const preset = this.modality === 'CT' ? CT_PRESETS.find((p) => p.key === key) : undefined;
    if (preset) {
      event.preventDefault();
      this.applyPreset(preset);
      return;
    }
    const tool = TOOLS.find((t) => t.key === key.toLowerCase());
    if (tool) {
      event.preventDefault();
      this.setTool(tool.name);
      return;
    }
    if (key === 'm' || key === 'M') {
      event.preventDefault();
      void this.setLayout(this.layout === 'mpr' ? 'single' : 'mpr');
    } else if (key === '0') {
      event.preventDefault();
      this.reset();
    }
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    this.segmentationModule.destroy();
    this.measurementsModule.destroy();
    this.aiModule.destroy();
    this.heatmapModule.destroy();
    this.srModule.destroy();
    this.teardownViewports();
    this.releaseSeries();
    ToolGroupManager.destroyToolGroup(this.toolGroupId);
    this.engine?.destroy();
    this.engine = null;
    cache.purgeCache();
  }
}
