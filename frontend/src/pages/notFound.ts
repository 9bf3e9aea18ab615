import type { AppContext, Page } from '../app';
import { notFoundElement } from './patient';

export function notFoundPage(_ctx: AppContext): Page {
  return { element: notFoundElement(), title: 'Not found', destroy: () => undefined };
}
