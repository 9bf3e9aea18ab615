import { describe, expect, it } from 'vitest';
import { cameraMarkers, directionLabel, orientationMarkers, patientOrientationMarkers } from './orientation';

describe('orientation markers', () => {
  it('names the patient direction of a vector (LPS)', () => {
    expect(directionLabel([1, 0, 0])).toBe('L');
    expect(directionLabel([0, -1, 0])).toBe('A');
    expect(directionLabel([0, 0, 1])).toBe('S');
    expect(directionLabel([0.3, 0, -0.95])).toBe('IL');
  });

  it('reads the MPR cameras as a radiologist expects', () => {
    // Cornerstone's axial, sagittal and coronal cameras (viewUp, viewPlaneNormal).
    expect(cameraMarkers([0, -1, 0], [0, 0, -1])).toEqual({ top: 'A', bottom: 'P', left: 'R', right: 'L' });
    expect(cameraMarkers([0, 0, 1], [1, 0, 0])).toEqual({ top: 'S', bottom: 'I', left: 'A', right: 'P' });
    expect(cameraMarkers([0, 0, 1], [0, -1, 0])).toEqual({ top: 'S', bottom: 'I', left: 'R', right: 'L' });
  });

  it('reads ImageOrientationPatient and PatientOrientation', () => {
    expect(orientationMarkers([1, 0, 0, 0, 1, 0])).toEqual({ top: 'A', bottom: 'P', left: 'R', right: 'L' });
    expect(patientOrientationMarkers(['L', 'F'])).toEqual({ top: 'S', bottom: 'I', left: 'R', right: 'L' });
    expect(patientOrientationMarkers(['A', 'F'])).toEqual({ top: 'S', bottom: 'I', left: 'P', right: 'A' });
    expect(patientOrientationMarkers(['L'])).toBeNull();
  });
});
