/**
 * One-time global set-up of Cornerstone3D (core, image loader, tools). Cornerstone keeps global
 * state, so this runs once per page load; each viewer then has its own init/destroy.
 */

import { init as coreInit } from '@cornerstonejs/core';
import { init as loaderInit } from '@cornerstonejs/dicom-image-loader';
import {
  EllipticalROITool, LengthTool, PanTool, ProbeTool, RectangleROITool, StackScrollTool, WindowLevelTool, ZoomTool,
  addTool, init as toolsInit,
} from '@cornerstonejs/tools';
import type { ViewerConfig } from '../config';

let ready = false;

export function runtimeInit(config: ViewerConfig): void {
  if (ready) return;
  coreInit();
  loaderInit({ maxWebWorkers: config.maxWebWorkers });
  toolsInit();
  for (const tool of [WindowLevelTool, PanTool, ZoomTool, StackScrollTool, LengthTool, EllipticalROITool, RectangleROITool, ProbeTool]) {
    addTool(tool);
  }
  ready = true;
}
