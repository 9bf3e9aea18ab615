/**
 * Orientation markers (the patient direction at each viewport edge, as radiologists read them)
 * from the camera of a volume or stack view, or from PatientOrientation (0020,0020) for a
 * projection radiograph without ImageOrientationPatient. Pure.
 *
 * Patient axes are DICOM LPS: +x towards the patient's left, +y posterior, +z superior (head).
 */

export type Vec3 = readonly [number, number, number] | readonly number[];

export interface EdgeMarkers {
  readonly top: string;
  readonly bottom: string;
  readonly left: string;
  readonly right: string;
}

/** Below this share of the direction an axis is not named (an oblique view names two or three). */
const OBLIQUE_MIN = 0.25;

const AXES: readonly (readonly [string, string])[] = [['L', 'R'], ['P', 'A'], ['S', 'I']];

/** The patient direction a unit vector points to: "L", "A", "SL" for an oblique one. */
export function directionLabel(vector: Vec3): string {
  const parts = [0, 1, 2]
    .map((axis) => ({ axis, value: Number(vector[axis] ?? 0) }))
    .filter((p) => Math.abs(p.value) >= OBLIQUE_MIN)
    .sort((a, b) => Math.abs(b.value) - Math.abs(a.value));
  return parts.map(({ axis, value }) => (AXES[axis] as readonly [string, string])[value > 0 ? 0 : 1]).join('');
}

function cross(a: Vec3, b: Vec3): [number, number, number] {
  const [a0, a1, a2] = [Number(a[0]), Number(a[1]), Number(a[2])];
  const [b0, b1, b2] = [Number(b[0]), Number(b[1]), Number(b[2])];
  return [a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0];
}

const negate = (v: Vec3): [number, number, number] => [-Number(v[0]), -Number(v[1]), -Number(v[2])];

/**
 * Markers of a rendered view: ``viewUp`` points to the top of the screen, ``viewPlaneNormal``
 * towards the viewer (Cornerstone's camera), so the screen's right is viewUp x normal.
 */
export function cameraMarkers(viewUp: Vec3, viewPlaneNormal: Vec3): EdgeMarkers {
  const right = cross(viewUp, viewPlaneNormal);
  return { top: directionLabel(viewUp), bottom: directionLabel(negate(viewUp)), left: directionLabel(negate(right)), right: directionLabel(right) };
}

/** ImageOrientationPatient's row (towards the right edge) and column (towards the bottom) cosines. */
export function orientationMarkers(imageOrientation: readonly number[]): EdgeMarkers | null {
  if (imageOrientation.length !== 6) return null;
  const row = imageOrientation.slice(0, 3);
  const column = imageOrientation.slice(3, 6);
  return { top: directionLabel(negate(column)), bottom: directionLabel(column), left: directionLabel(negate(row)), right: directionLabel(row) };
}

const PATIENT_ORIENTATION: Readonly<Record<string, string>> = { L: 'L', R: 'R', A: 'A', P: 'P', H: 'S', F: 'I' };
const OPPOSITE: Readonly<Record<string, string>> = { L: 'R', R: 'L', A: 'P', P: 'A', S: 'I', I: 'S' };

function patientDirection(text: string): string {
  return [...text.toUpperCase()].map((c) => PATIENT_ORIENTATION[c] ?? '').join('');
}

function opposite(label: string): string {
  return [...label].map((c) => OPPOSITE[c] ?? '').join('');
}

/**
 * PatientOrientation (0020,0020): the direction of the rows (towards the right edge) and of the
 * columns (towards the bottom), in L/R/A/P/H/F letters, e.g. "L\F" for a PA chest film. The
 * head and foot letters are shown as S and I like the cross-sectional views.
 */
export function patientOrientationMarkers(values: readonly string[]): EdgeMarkers | null {
  if (values.length !== 2) return null;
  const right = patientDirection(values[0] as string);
  const bottom = patientDirection(values[1] as string);
  if (!right || !bottom) return null;
  return { top: opposite(bottom), bottom, left: opposite(right), right };
}
