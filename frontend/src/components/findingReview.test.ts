import { describe, expect, it } from 'vitest';
import type { ImagingFinding } from '../api/types';
import { findingLabelText, findingMeasures, findingTitle } from './findingReview';

const lesion: ImagingFinding = {
  id: 7, analysis: 3, kind: 'lesion', source: 'model', label: 'liver_lesion', status: 'proposed', counts: false,
  counts_as_tumour: true, series_uid: '1.2.3', model_key: 'liver_ct_seg', model_version: '1.1.0', source_ref: 'lesion:2',
  values: { longest_axial_diameter_mm: 18, volume_ml: 2.1, mean_density_hu: 25 }, proposed: {}, decided_by: null,
  decided_at: null, reason: '',
};

describe('finding review text', () => {
  it('names a model lesion by its number and its measurements in human units', () => {
    expect(findingTitle(lesion)).toBe('Lesion 2');
    expect(findingMeasures(lesion)).toBe('18.0 mm · 2.1 mL · 25.0 HU');
  });

  it('names clinician entries and labels in words, never by key', () => {
    expect(findingTitle({ ...lesion, source: 'clinician', label: 'suspected_hcc' })).toBe('Suspected HCC (entered)');
    expect(findingLabelText('haemangioma')).toBe('Haemangioma (benign)');
    expect(findingLabelText('something_new')).toBe('something new');
  });

  it('names the brain tumour and its volumes', () => {
    const tumour = { ...lesion, kind: 'segmentation' as const, label: 'brain_tumour', source_ref: 'brain_tumour',
      values: { volume_ml: 40.5, tumour_core_ml: 12, enhancing_tumour_ml: 6.25, hemisphere: 'left' } };
    expect(findingTitle(tumour)).toBe('Brain tumour');
    expect(findingMeasures(tumour)).toBe('40.5 mL · core 12.0 mL · enhancing 6.3 mL · left hemisphere');
  });

  it('shows a classification by its label and probability', () => {
    const prediction = { ...lesion, kind: 'classification' as const, label: 'pneumonia', source_ref: 'prediction:1.2', values: { probability: 0.8123 } };
    expect(findingTitle(prediction)).toBe('Image classification');
    expect(findingMeasures(prediction)).toBe('pneumonia · probability 0.81');
  });
});
