import { describe, expect, it } from 'vitest';
import { contributionsParse, modelsParse } from './report';

describe('report content', () => {
  it('reads contributions in any of the shapes the server may send, largest first', () => {
    expect(contributionsParse({ age: 0.2, albumin: -0.9 })).toEqual([
      { feature: 'albumin', value: -0.9 }, { feature: 'age', value: 0.2 },
    ]);
    expect(contributionsParse([{ feature: 'ast', log_odds: 0.5 }, ['alt', 0.1], { junk: true }])).toEqual([
      { feature: 'ast', value: 0.5 }, { feature: 'alt', value: 0.1 },
    ]);
    expect(contributionsParse('nope')).toEqual([]);
  });

  it('reads model versions and weight hashes', () => {
    expect(modelsParse([{ key: 'liver_ct_seg', version: '1.0', weights_sha256: 'ab12' }, 'noop'])).toEqual([
      { key: 'liver_ct_seg', version: '1.0', sha256: 'ab12', extra: {} },
      { key: 'noop', version: '', sha256: null, extra: {} },
    ]);
  });
});

describe('names', () => {
  it('shortens analyte names for the panel and qualifies bare categories', async () => {
    const { analyteShortName } = await import('../components/labs');
    const { categoryText } = await import('./scores');
    expect(analyteShortName({ key: 'alt', display_name: 'Alanine aminotransferase (ALT)' })).toBe('ALT');
    expect(analyteShortName({ key: 'bilirubin_total', display_name: 'Total bilirubin' })).toBe('Bilirubin');
    expect(analyteShortName({ key: 'x', display_name: 'Something' })).toBe('Something');
    expect(categoryText('albi', '2')).toBe('grade 2');
    expect(categoryText('child_pugh', 'B')).toBe('class B');
    expect(categoryText('fib4', 'indeterminate_low')).toBe('indeterminate low');
  });
});

describe('AI findings for the viewer', () => {
  it('picks the findings of the shown series and formats measurements', async () => {
    const { aiFindingsFromReport, measureText } = await import('./report');
    expect(measureText({ value: 12.5, unit: 'mL' })).toBe('12.5 mL');
    expect(measureText([3, 7])).toBe('3–7');
    const content = {
      imaging_findings: [
        { series_uid: '1.2', model: { key: 'liver_ct_seg', version: '1.0' }, findings: {
          liver: { present: true, volume: { value: 1510.2, unit: 'mL' }, mean_density: { value: 58.1, unit: 'HU' } },
          lesion_count: 1,
          lesions: [{ id: 1, longest_axial_diameter: { value: 21.4, unit: 'mm' }, volume: { value: 3.1, unit: 'mL' }, slice_range: [10, 14] }],
        } },
        { series_uid: '9.9', findings: {} },
      ],
    };
    const blocks = aiFindingsFromReport(content, '1.2', 'Report v2');
    expect(blocks).toHaveLength(1);
    expect(blocks[0]?.title).toBe('Report v2 · liver_ct_seg v1.0');
    expect(blocks[0]?.summary).toContainEqual(['Liver volume', '1510.2 mL']);
    expect(blocks[0]?.lesions[0]?.cells).toEqual([['Diameter', '21.4 mm'], ['Volume', '3.1 mL'], ['Slices', '10–14']]);
    expect(aiFindingsFromReport(content, 'nope', 'x')).toEqual([]);
  });

  it('shows the brain tumour regions and side', async () => {
    const { aiFindingsFromReport } = await import('./report');
    const content = { imaging_findings: [{ series_uid: '3.4', model: { key: 'brain_mri_seg', version: '1.0.0' }, findings: {
      regions: { whole_tumour: { volume: { value: 40.5, unit: 'mL' } }, tumour_core: { volume: { value: 12, unit: 'mL' } },
        enhancing_tumour: { volume: { value: 6.2, unit: 'mL' } } },
      location: { hemisphere: 'left' },
    } }] };
    const [block] = aiFindingsFromReport(content, '3.4', 'Report v1');
    expect(block?.summary).toEqual([['Whole tumour', '40.5 mL'], ['Tumour core', '12 mL'], ['Enhancing tumour', '6.2 mL'], ['Hemisphere', 'left']]);
  });
});

describe('the clinical document', () => {
  it('reads the server document, keeping only in-app viewer links', async () => {
    const { documentParse } = await import('./report');
    const doc = documentParse({
      header: { title: 'Liver clinical decision-support report', state: 'final', state_label: 'Signed', version: 3,
        patient_name: 'DOE, Jane', mrn: 'MRN1', birth_date: '12 Apr 1965', age: '61 years', sex: 'Female',
        requester: 'Ann Lee', signer: 'Bo Chan', signed_at: '07 Dec 2026 11:05 UTC' },
      imaging: [{ title: 'Portal venous · CT · 02 Jan 2025', summary: [{ label: 'Liver volume', value: '1510 mL' }],
        lesions: [
          { number: 1, diameter: '21.4 mm', volume: '3.1 mL', density: '15 HU', slices: 'images 11–15 of 24', viewer_href: '/studies/1.2?series=3.4&instance=5.6' },
          { number: 2, viewer_href: 'https://elsewhere.example/x' },
        ] }],
      scores: [{ score: 'fib4', name: 'FIB-4', value: '4.42', interpretation: 'above the high cut-off 2.67' }],
      not_computed: [{ label: 'GALAD', value: 'needs AFP' }],
      intended_use: 'Supports, not replaces, a clinician\'s judgement.',
    });
    expect(doc?.header.signer).toBe('Bo Chan');
    expect(doc?.header.released_at).toBe('');
    expect(doc?.imaging[0]?.lesions.map((l) => l.viewer_href)).toEqual(['/studies/1.2?series=3.4&instance=5.6', null]);
    expect(doc?.imaging[0]?.lesions[1]?.diameter).toBe('');
    expect(doc?.scores[0]?.name).toBe('FIB-4');
    expect(doc?.not_computed).toEqual([{ label: 'GALAD', value: 'needs AFP' }]);
    expect(documentParse({ scores: [] })).toBeNull();
    expect(documentParse(null)).toBeNull();
  });

  it('keeps only inline PNG heatmaps and in-app viewer links', async () => {
    const { documentParse } = await import('./report');
    const png = 'data:image/png;base64,iVBORw0KGgo=';
    const doc = documentParse({
      header: { title: 'Report', state: 'final', version: 1 },
      imaging: [{ title: 'AP chest · DX', heatmaps: [
        { number: 1, result: 'Probability of pneumonia 87.4 %', image: png, caveat: 'Grad-CAM: where the network looked.', viewer_href: '/studies/1.2?instance=3' },
        { number: 2, image: 'https://elsewhere.example/x.png' },
        { number: 3, image: png, viewer_href: 'javascript:alert(1)' },
      ] }],
    });
    const heatmaps = doc?.imaging[0]?.heatmaps ?? [];
    expect(heatmaps.map((m) => m.number)).toEqual([1, 3]);
    expect(heatmaps[0]?.caveat).toBe('Grad-CAM: where the network looked.');
    expect(heatmaps.map((m) => m.viewer_href)).toEqual(['/studies/1.2?instance=3', null]);
  });

  it('writes Hounsfield units as HU, not as their UCUM code', async () => {
    const { measureText } = await import('./report');
    expect(measureText({ value: 89.4, unit: "[hnsf'U]" })).toBe('89.4 HU');
  });
});
