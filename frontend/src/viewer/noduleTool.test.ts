import { describe, expect, it } from 'vitest';
import { lungScoreText } from '../components/lungNodules';
import { type NoduleMeasurement, noduleSummary, pixelToWorld } from './noduleTool';

const image = {
  sop_instance_uid: '1.2.3', runs: [[64, 35, 45]] as [number, number, number][], position_lps_mm: [-100, -80, 30],
  row_cosines: [1, 0, 0], column_cosines: [0, 1, 0], pixel_spacing_mm: [1, 0.5] as [number, number],
};

describe('nodule tool', () => {
  it('places a pixel of the outline in patient coordinates', () => {
    expect(pixelToWorld(image, 0, 0)).toEqual([-100, -80, 30]);
    // column steps along the row direction by the column spacing, row along the column direction
    expect(pixelToWorld(image, 10, 4)).toEqual([-98, -70, 30]);
  });

  it('summarises the measurement with units', () => {
    const m = { model: { key: 'lung_nodule_ct', version: '1.0.0' }, notice: '', outline: [],
      nodule: { long_axis_mm: 11.44, short_axis_mm: 9.8, mean_diameter_mm: 10.6, volume_mm3: 554.2, type: 'solid', mean_hu: 39.4,
        calcified: true, nodule_like: true, confidence: 1, centre_lps_mm: [0, 0, 0] } } as NoduleMeasurement;
    expect(noduleSummary(m)).toBe('long 11.4 mm · short 9.8 mm · mean 10.6 mm · 554 mm³ · solid · 39 HU · calcified');
  });

  it('names the nodule a lung score refers to', () => {
    const nodule = { record_id: 7, long_axis_mm: 12, type: 'part_solid', observed_on: '2026-12-06' };
    expect(lungScoreText('Brock (PanCan)', { computable: true, value: 0.1643, category: null, details: { nodule } }))
      .toBe('Brock (PanCan): 16.4 % — nodule #7 (part-solid, 12.0 mm, 2026-12-06)');
    expect(lungScoreText('Lung-RADS v2022', { computable: false, value: null, category: null, missing: ['lung_screening_exam'] }))
      .toBe('Lung-RADS v2022: not computable (missing lung_screening_exam)');
  });
});
