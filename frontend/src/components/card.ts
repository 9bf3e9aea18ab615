/**
 * A card that loads its data, shows loading / empty / unavailable / error states, and can be
 * reloaded (after a write, or on a realtime `record.changed`). Overlapping reloads are
 * collapsed: only the latest answer is drawn.
 */

import { h, replace } from '../lib/dom';
import { stateFor, stateLoading } from './states';

export interface CardOptions<T> {
  readonly id: string;
  readonly title: string;
  /** What to call the data in the "not available" message, e.g. "Genetic findings". */
  readonly what: string;
  readonly load: () => Promise<T>;
  readonly render: (data: T, body: HTMLElement) => void;
  readonly actions?: readonly HTMLElement[];
  readonly className?: string;
}

export class Card<T> {
  readonly element: HTMLElement;
  readonly body: HTMLElement;
  private readonly options: CardOptions<T>;
  private sequence = 0;
  private destroyed = false;
  data: T | null = null;

  constructor(options: CardOptions<T>) {
    this.options = options;
    const headingId = `${options.id}-title`;
    this.body = h('div', { class: 'card-body', 'aria-live': 'polite', 'aria-busy': 'false' });
    this.element = h('section', { class: `card ${options.className ?? ''}`, id: options.id, 'aria-labelledby': headingId },
      h('header', { class: 'card-head' },
        h('h2', { id: headingId }, options.title),
        options.actions && options.actions.length ? h('div', { class: 'card-actions' }, ...options.actions) : null,
      ),
      this.body,
    );
  }

  async reload(quiet = false): Promise<void> {
    const ticket = ++this.sequence;
    if (!quiet || this.data === null) replace(this.body, stateLoading());
    this.body.setAttribute('aria-busy', 'true');
    try {
      const data = await this.options.load();
      if (ticket !== this.sequence || this.destroyed) return;
      this.data = data;
      replace(this.body);
      this.options.render(data, this.body);
    } catch (error) {
      if (ticket !== this.sequence || this.destroyed) return;
      replace(this.body, stateFor(error, this.options.what, () => void this.reload()));
    } finally {
      if (ticket === this.sequence) this.body.setAttribute('aria-busy', 'false');
    }
  }

  destroy(): void {
    this.destroyed = true;
  }
}
