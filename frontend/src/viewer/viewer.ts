/** Entry of the viewer chunk (loaded with a dynamic import from the study page only). */

import { StudyViewer, type ViewerOptions } from './studyViewer';

export interface ViewerHandle {
  readonly element: HTMLElement;
  readonly viewer: StudyViewer;
  destroy(): void;
}

export async function viewerMount(container: HTMLElement, options: ViewerOptions): Promise<ViewerHandle> {
  const viewer = new StudyViewer(options);
  container.appendChild(viewer.element);
  await viewer.init();
  return { element: viewer.element, viewer, destroy: () => viewer.destroy() };
}

export type { ViewerOptions };
