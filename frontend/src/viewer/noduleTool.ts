/**
 * "Measure nodule": the clinician clicks a lung nodule on a CT and gets its outline and
 * measurements, segmented by the lung_nodule_ct model's own region growing on the server
 * (POST /api/v1/imaging/series/<uid>/nodule-measure with the clicked point in patient
 * coordinates). The outline is drawn over the viewport on the images it lies on; the panel
 * gives long and short axis, mean diameter, volume, type, mean HU and calcification, with the
 * model and version. Nothing is stored: the clinician adds the nodule to the record.
 */

import { Enums, type Types } from '@cornerstonejs/core';
import { cookieRead } from '../api/http';
import { h, replace } from '../lib/dom';

export interface NoduleToolHost {
  readonly toolbar: HTMLElement;
  readonly viewer: HTMLElement;
  /** The viewport the user works in, and the element it draws into. */
  viewport(): Types.IViewport | null;
  series(): string | null;
}

interface OutlineImage {
  readonly sop_instance_uid: string;
  readonly runs: readonly (readonly [number, number, number])[];
  readonly position_lps_mm: readonly number[];
  readonly row_cosines: readonly number[];
  readonly column_cosines: readonly number[];
  readonly pixel_spacing_mm: readonly [number, number];
}

export interface NoduleMeasurement {
  readonly model: { key: string; version: string };
  readonly nodule: {
    long_axis_mm: number; short_axis_mm: number; mean_diameter_mm: number; volume_mm3: number; type: string;
    mean_hu: number; calcified: boolean; nodule_like: boolean; confidence: number; centre_lps_mm: number[];
  };
  readonly outline: readonly OutlineImage[];
  readonly notice: string;
}

const SVG = 'http://www.w3.org/2000/svg';
const dot = (a: readonly number[], b: readonly number[]): number => a.reduce((s, v, i) => s + v * (b[i] ?? 0), 0);

/** Patient-space corner of a pixel edge (row, column may be half-integers). Pure. */
export function pixelToWorld(image: OutlineImage, row: number, column: number): Types.Point3 {
  const [dy, dx] = image.pixel_spacing_mm;
  return [0, 1, 2].map(
    (i) => (image.position_lps_mm[i] ?? 0) + column * dx * (image.row_cosines[i] ?? 0) + row * dy * (image.column_cosines[i] ?? 0),
  ) as Types.Point3;
}

/** The panel text of a measurement. Pure. */
export function noduleSummary(m: NoduleMeasurement): string {
  const n = m.nodule;
  return `long ${n.long_axis_mm.toFixed(1)} mm · short ${n.short_axis_mm.toFixed(1)} mm · mean ${n.mean_diameter_mm.toFixed(1)} mm · `
    + `${Math.round(n.volume_mm3)} mm³ · ${n.type} · ${Math.round(n.mean_hu)} HU${n.calcified ? ' · calcified' : ''}`;
}

export class NoduleTool {
  readonly button: HTMLButtonElement;
  readonly panel: HTMLElement;
  private readonly host: NoduleToolHost;
  private active = false;
  private result: NoduleMeasurement | null = null;
  private overlay: SVGSVGElement | null = null;
  private viewportElement: HTMLElement | null = null;
  private readonly onRendered = (): void => this.draw();
  private readonly onClick = (event: MouseEvent): void => void this.measureAt(event);

  constructor(host: NoduleToolHost) {
    this.host = host;
    this.button = h('button', { type: 'button', class: 'btn btn-small', id: 'viewer-nodule-measure', 'aria-pressed': 'false',
      title: 'Click a lung nodule to outline and measure it' }, 'Measure nodule');
    this.button.addEventListener('click', () => this.toggle());
    this.panel = h('section', { class: 'nodule-result', 'aria-live': 'polite', hidden: true });
  }

  init(): void {
    this.host.toolbar.appendChild(this.button);
    this.host.toolbar.after(this.panel);
    this.host.viewer.addEventListener('click', this.onClick, true);
  }

  destroy(): void {
    this.host.viewer.removeEventListener('click', this.onClick, true);
    this.detach();
    this.button.remove();
    this.panel.remove();
  }

  private toggle(): void {
    this.active = !this.active;
    this.button.setAttribute('aria-pressed', String(this.active));
    this.host.viewer.dataset.noduleTool = this.active ? 'on' : 'off';
  }

  private async measureAt(event: MouseEvent): Promise<void> {
    if (!this.active) return;
    const target = event.target as HTMLElement | null;
    const element = target?.closest<HTMLElement>('.vp-element');
    const viewport = this.host.viewport();
    const series = this.host.series();
    if (!element || !viewport || !series) return;
    event.stopPropagation();
    const canvas = element.querySelector('canvas');
    const rect = (canvas ?? element).getBoundingClientRect();
    const world = viewport.canvasToWorld([event.clientX - rect.left, event.clientY - rect.top] as Types.Point2);
    this.show('Measuring…', 'busy');
    const token = cookieRead(document.cookie, 'csrftoken');
    const response = await fetch(`/api/v1/imaging/series/${encodeURIComponent(series)}/nodule-measure`, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...(token ? { 'X-CSRFToken': token } : {}) },
      body: JSON.stringify({ point_lps_mm: [world[0], world[1], world[2]] }),
    });
    const body = await response.json().catch(() => null) as (NoduleMeasurement & { code?: string; message?: string }) | null;
    if (!response.ok || !body || !body.nodule) {
      this.result = null;
      this.draw();
      this.show(body?.code === 'no_nodule_at_point' ? 'No nodule found where you clicked.' : (body?.message ?? 'The nodule could not be measured.'), 'error');
      return;
    }
    this.result = body;
    this.attach(element);
    this.show(noduleSummary(body), 'done');
    this.draw();
  }

  private show(text: string, state: string): void {
    this.panel.hidden = false;
    this.panel.dataset.state = state;
    const model = this.result ? `${this.result.model.key} ${this.result.model.version} — ${this.result.notice}` : '';
    replace(this.panel, h('p', { class: 'nodule-summary' }, text), model ? h('p', { class: 'hint' }, model) : null);
  }

  private attach(element: HTMLElement): void {
    if (this.viewportElement === element && this.overlay) return;
    this.detach();
    this.viewportElement = element;
    this.overlay = document.createElementNS(SVG, 'svg');
    this.overlay.setAttribute('class', 'nodule-outline');
    this.overlay.setAttribute('style', 'position:absolute;inset:0;width:100%;height:100%;pointer-events:none');
    element.appendChild(this.overlay);
    element.addEventListener(Enums.Events.IMAGE_RENDERED, this.onRendered);
    element.addEventListener(Enums.Events.CAMERA_MODIFIED, this.onRendered);
  }

  private detach(): void {
    this.viewportElement?.removeEventListener(Enums.Events.IMAGE_RENDERED, this.onRendered);
    this.viewportElement?.removeEventListener(Enums.Events.CAMERA_MODIFIED, this.onRendered);
    this.overlay?.remove();
    this.overlay = null;
    this.viewportElement = null;
  }

  /** The outline's runs on the image the viewport shows now (same plane within half a pixel row). */
  private draw(): void {
    const overlay = this.overlay;
    if (!overlay) return;
    while (overlay.firstChild) overlay.firstChild.remove();
    const viewport = this.host.viewport();
    if (!this.result || !viewport) return;
    const camera = viewport.getCamera();
    const normal = camera.viewPlaneNormal ?? [0, 0, 1];
    const focal = camera.focalPoint ?? [0, 0, 0];
    let drawn = 0;
    const levels = this.result.outline.map((image) => dot(normal, pixelToWorld(image, 0, 0)));
    // half the distance between the outline's images (one image: half a millimetre)
    const tolerance = levels.length > 1 ? Math.abs((levels[1] ?? 0) - (levels[0] ?? 0)) / 2 : 0.5;
    for (const [index, image] of this.result.outline.entries()) {
      const gap = Math.abs((levels[index] ?? 0) - dot(normal, focal));
      if (gap > tolerance + 1e-3) continue;
      for (const [row, first, last] of image.runs) {
        const a = viewport.worldToCanvas(pixelToWorld(image, row - 0.5, first - 0.5));
        const b = viewport.worldToCanvas(pixelToWorld(image, row + 0.5, last + 0.5));
        const rect = document.createElementNS(SVG, 'rect');
        rect.setAttribute('x', String(Math.min(a[0], b[0])));
        rect.setAttribute('y', String(Math.min(a[1], b[1])));
        rect.setAttribute('width', String(Math.abs(b[0] - a[0])));
        rect.setAttribute('height', String(Math.abs(b[1] - a[1])));
        rect.setAttribute('fill', 'rgba(255, 170, 0, 0.45)');
        overlay.appendChild(rect);
        drawn += 1;
      }
    }
    overlay.dataset.runs = String(drawn);
  }
}

/** The viewer's one hook: adds the toolbar button and panel; returns the clean-up. */
export function noduleToolRegister(host: NoduleToolHost): () => void {
  const tool = new NoduleTool(host);
  tool.init();
  return () => tool.destroy();
}
