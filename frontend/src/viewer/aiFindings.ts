/** AI findings for the shown series (from the latest report that analysed it), as a table. */

import { h, replace } from '../lib/dom';
import type { AiFindingsBlock } from '../lib/report';
import type { ViewerModule } from './module';

export type AiFindingsLoader = (seriesUid: string) => Promise<AiFindingsBlock[]>;

/** The review (accept, edit, reject) of the series's AI findings, mounted under the table. */
export interface AiFindingsReviewPanel {
  readonly element: HTMLElement;
  destroy(): void;
}
export type AiFindingsReviewFactory = (seriesUid: string) => Promise<AiFindingsReviewPanel | null>;

export class AiFindingsModule implements ViewerModule {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private readonly loader: AiFindingsLoader | null;
  private readonly review: AiFindingsReviewFactory | null;
  private reviewPanel: AiFindingsReviewPanel | null = null;
  private ticket = 0;

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
    let blocks: AiFindingsBlock[];
    try {
      blocks = await this.loader(seriesUid);
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
    const panel = await this.review(seriesUid).catch(() => null);
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
