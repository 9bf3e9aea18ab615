/** The four states every data block can be in, rendered the same way everywhere. */

import { ApiError, errorText } from '../api/errors';
import { h } from '../lib/dom';

export function stateLoading(label = 'Loading…'): HTMLElement {
  return h('p', { class: 'state state-loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), label);
}

export function stateEmpty(text: string): HTMLElement {
  return h('p', { class: 'state state-empty' }, text);
}

/** The server does not offer this yet: say so plainly, never show made-up data. */
export function stateUnavailable(what: string): HTMLElement {
  return h('p', { class: 'state state-unavailable', 'data-state': 'unavailable' },
    h('strong', null, 'Not available. '), `${what} is not provided by this server yet.`);
}

export function stateError(error: unknown, retry?: () => void): HTMLElement {
  const text = error instanceof ApiError ? errorText(error) : 'Something went wrong while loading.';
  const block = h('div', { class: 'state state-error', role: 'alert' }, h('p', null, text));
  if (retry) {
    const button = h('button', { type: 'button', class: 'btn btn-small' }, 'Try again');
    button.addEventListener('click', retry);
    block.appendChild(button);
  }
  return block;
}

export function stateFor(error: unknown, what: string, retry?: () => void): HTMLElement {
  if (error instanceof ApiError && error.isUnavailable) return stateUnavailable(what);
  return stateError(error, retry);
}
