/**
 * AI findings for the shown series (from the latest report that analysed it), as a table titled
 * by the model's name and version, with the clinician's review under it. It also hands the
 * viewer the classifier heatmaps of the series and the review state that colours its overlays.
 */

import { h, replace } from '../lib/dom';
import type { AiFindingsBlock } from '../lib/report';
import type { AiHeatmap } from './heatmap';
import type { ViewerModule } from './module';
import type { AiReviewState } from './segColours';

/** What the page found about a series: the findings blocks and any heatmaps. */
export interface AiSeriesFindings {
  readonly blocks: readonly AiFindingsBlock[];
  readonly heatmaps?: readonly AiHeatmap[];
}

export type AiFindingsLoader = (seriesUid: string) => Promise<readonly AiFindingsBlock[] | AiSeriesFindings>;

/** The review (accept, edit, reject) of the series's AI findings, mounted under the table. */
export interface AiFindingsReviewPanel {
  readonly element: HTMLElement;
  destroy(): void;
}
/** Builds the review panel; ``onReview`` hears the findings' review state now and after each decision. */
export type AiFindingsReviewFactory = (seriesUid: string, onReview: (state: AiReviewState) => void) => Promise<AiFindingsReviewPanel | null>;

export class AiFindingsModule implements ViewerModule {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private readonly loader: AiFindingsLoader | null;
  private readonly review: AiFindingsReviewFactory | null;
  private reviewPanel: AiFindingsReviewPanel | null = null;
  private ticket = 0;
  /** The series's heatmaps (none until the findings are read). */
  onHeatmaps: (heatmaps: readonly AiHeatmap[]) => void = () => undefined;
  /** The series's AI findings were reviewed (or read as still proposed). */
  onReview: (state: AiReviewState) => void = () => undefined;

  constructor(loader: AiFindingsLoader | null, review: AiFindingsReviewFactory | null = null) {
    this.loader = loader;
    this.review = review;
    this.body = h('div', { class: 'ai-body', 'aria-live': 'polite' });
    this.element = h('section', { class: 'panel', id: 'ai-findings', 'aria-labelledby': 'ai-title' },
      h('header', { class: 'panel-head' }, h('h2', { id: 'ai-title' }, 'AI findings')), this.body);
  }

  init(): void {
    replace(this.body, h('p', { class: 'muted small' }, this.loader ? 'Open a series to see its AI findings.' : 'Open the study from a patient page to see AI findings.'));
  }

  async show(seriesUid: string): Promise<void> {
    if (!this.loader) return;
    const ticket = ++this.ticket;
    this.reviewPanel?.destroy();
    this.reviewPanel = null;
    replace(this.body, h('p', { class: 'muted small', role: 'status' }, 'Looking for analyses of this series…'));
    this.onHeatmaps([]);
    this.onReview('proposed');
    let blocks: readonly AiFindingsBlock[];
    try {
      const found = await this.loader(seriesUid);
      if (ticket !== this.ticket) return;
      const rich = 'blocks' in found ? found as AiSeriesFindings : null;
      blocks = rich ? rich.blocks : found as readonly AiFindingsBlock[];
      this.onHeatmaps(rich?.heatmaps ?? []);
    } catch {
      if (ticket === this.ticket) replace(this.body, h('p', { class: 'muted small' }, 'AI findings are not available.'));
      return;
    }
    if (ticket !== this.ticket) return;
    if (blocks.length === 0) {
      replace(this.body, h('p', { class: 'muted small' }, 'No analysis of this series yet.'));
      return;
    }
    replace(this.body, ...blocks.map((block) => h('div', { class: 'ai-block' },
      h('p', { class: 'small' }, h('strong', null, block.title)),
      block.summary.length ? h('dl', { class: 'facts small' }, ...block.summary.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)])) : null,
      block.lesions.length ? h('table', { class: 'table compact measure-table' },
        h('caption', { class: 'visually-hidden' }, 'Lesions'),
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, '#'), ...(block.lesions[0]?.cells ?? []).map(([label]) => h('th', { scope: 'col' }, label)))),
        h('tbody', null, ...block.lesions.map((lesion) => h('tr', null, h('td', null, lesion.id), ...lesion.cells.map(([, text]) => h('td', { class: 'measure-value' }, text))))))
        : null,
    )));
    if (!this.review) return;
    const panel = await this.review(seriesUid, (state) => {
      if (ticket === this.ticket) this.onReview(state);
    }).catch(() => null);
    if (ticket !== this.ticket) {
      panel?.destroy();
      return;
    }
    if (panel) {
      this.reviewPanel = panel;
      this.body.appendChild(panel.element);
    }
  }

  destroy(): void {
    this.ticket += 1;
    this.reviewPanel?.destroy();
    this.reviewPanel = null;
  }
}
