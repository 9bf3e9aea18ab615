/** Window/level presets (Hounsfield units) and their conversion to a VOI range. Pure. */

export interface WindowPreset {
  readonly id: string;
  readonly label: string;
  readonly width: number;
  readonly center: number;
  /** Keyboard shortcut in the viewer. */
  readonly key: string;
}

/** Common CT presets; the liver window is narrow to separate lesions from parenchyma. */
export const CT_PRESETS: readonly WindowPreset[] = [
  { id: 'abdomen', label: 'Abdomen', width: 400, center: 50, key: '1' },
  { id: 'liver', label: 'Liver', width: 150, center: 30, key: '2' },
  { id: 'lung', label: 'Lung', width: 1500, center: -600, key: '3' },
  { id: 'bone', label: 'Bone', width: 1800, center: 400, key: '4' },
  { id: 'brain', label: 'Brain', width: 80, center: 40, key: '5' },
];

export interface VoiRange {
  readonly lower: number;
  readonly upper: number;
}

export function presetToVoi(preset: { width: number; center: number }): VoiRange {
  return { lower: preset.center - preset.width / 2, upper: preset.center + preset.width / 2 };
}

export function voiToWindow(range: VoiRange): { width: number; center: number } {
  return { width: range.upper - range.lower, center: (range.upper + range.lower) / 2 };
}

/** Which preset a VOI range matches, if any (to highlight the active button). */
export function presetMatch(range: VoiRange, presets: readonly WindowPreset[] = CT_PRESETS): WindowPreset | null {
  const { width, center } = voiToWindow(range);
  return presets.find((p) => Math.abs(p.width - width) < 0.5 && Math.abs(p.center - center) < 0.5) ?? null;
}
