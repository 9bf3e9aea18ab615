/** A modal dialog on the native <dialog> element: focus trap, Escape to close, labelled. */

import { h, uid } from '../lib/dom';

export interface DialogHandle {
  readonly element: HTMLDialogElement;
  readonly body: HTMLElement;
  open(): void;
  close(): void;
}

export function dialogCreate(title: string, onClose?: () => void): DialogHandle {
  const titleId = uid('dlg-title');
  const closeButton = h('button', { type: 'button', class: 'btn btn-quiet dialog-close', 'aria-label': 'Close' }, '✕');
  const body = h('div', { class: 'dialog-body' });
  const element = h('dialog', { class: 'dialog', 'aria-labelledby': titleId },
    h('header', { class: 'dialog-head' }, h('h2', { id: titleId }, title), closeButton),
    body,
  );
  closeButton.addEventListener('click', () => element.close());
  element.addEventListener('close', () => {
    element.remove();
    onClose?.();
  });
  return {
    element,
    body,
    open() {
      document.body.appendChild(element);
      element.showModal();
      element.querySelector<HTMLElement>('input, select, textarea, button:not(.dialog-close)')?.focus();
    },
    close() {
      element.close();
    },
  };
}
