/**
 * Who made a segment and what it is decide its colour, so that a reader never takes a model's
 * unverified proposal for a reference or clinician-verified one. Three families:
 *   organs (anatomy, whoever drew it)          blues
 *   AI proposals (model findings, not verified) magenta / orange
 *   clinician findings (drawn or verified)      greens / yellow
 * Pure: no Cornerstone.
 */

import type { SegSegment } from './segDecode';

export type SegmentRole = 'organ' | 'ai' | 'clinician';

/**
 * The clinician's decision on a series's AI findings: ``proposed`` while any is undecided,
 * ``rejected`` when the segmentation itself was rejected, ``verified`` when all are decided.
 */
export type AiReviewState = 'proposed' | 'verified' | 'rejected';

type Rgb = readonly [number, number, number];

export const ROLE_PALETTE: Readonly<Record<SegmentRole, readonly Rgb[]>> = {
  organ: [[60, 130, 255], [0, 180, 220], [120, 100, 255]],
  ai: [[255, 0, 200], [255, 140, 0], [255, 60, 100]],
  clinician: [[40, 210, 80], [230, 220, 0], [140, 255, 170]],
};

export const ROLE_LEGEND: readonly (readonly [SegmentRole, string])[] = [
  ['ai', 'AI proposal – not verified'],
  ['clinician', 'Verified by a clinician, or reference'],
  ['organ', 'Organ (anatomy)'],
];

const FINDING_WORDS = /lesion|tumou?r|neoplasm|nodule|mass|metasta|abnormal|cyst|carcinoma|opacity|consolidation/i;
const ANATOMY_CATEGORY = /^(organ|anatomical structure|body part|tissue)$/i;

/** Whether a segment outlines anatomy (an organ) rather than a finding. */
export function segmentIsOrgan(segment: SegSegment): boolean {
  if (FINDING_WORDS.test(`${segment.label} ${segment.propertyType ?? ''} ${segment.category ?? ''}`)) return false;
  return ANATOMY_CATEGORY.test(segment.category ?? '') || !segment.category;
}

/** A segment made by a model (SegmentAlgorithmType AUTOMATIC). */
export function segmentIsAi(segment: SegSegment): boolean {
  return (segment.algorithmType ?? '').toUpperCase() === 'AUTOMATIC';
}

/** The colour family of a segment, given the review state of its series's AI findings. */
export function segmentRole(segment: SegSegment, review: AiReviewState): SegmentRole {
  if (segmentIsOrgan(segment)) return 'organ';
  return segmentIsAi(segment) && review !== 'verified' ? 'ai' : 'clinician';
}

/** The colour of the n-th segment of a role in one segmentation (RGBA, 0-255). */
export function roleColour(role: SegmentRole, nth: number): [number, number, number, number] {
  const palette = ROLE_PALETTE[role];
  const [r, g, b] = palette[nth % palette.length] as Rgb;
  return [r, g, b, 255];
}

/** The label a segmentation carries while it is, or was, a model's proposal. */
export function reviewLabel(review: AiReviewState): string {
  if (review === 'verified') return 'AI result – reviewed by a clinician';
  if (review === 'rejected') return 'AI result – rejected by a clinician';
  return 'AI proposal – not verified';
}

/** Each segment's colour (by segment number): the n-th segment of a role takes its n-th hue. */
export function segmentColours(segments: readonly SegSegment[], review: AiReviewState): Map<number, [number, number, number, number]> {
  const seen: Record<SegmentRole, number> = { organ: 0, ai: 0, clinician: 0 };
  const colours = new Map<number, [number, number, number, number]>();
  for (const segment of segments) {
    const role = segmentRole(segment, review);
    colours.set(segment.number, roleColour(role, seen[role]));
    seen[role] += 1;
  }
  return colours;
}
