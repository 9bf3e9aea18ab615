/**
 * DICOM JSON (PS3.18 F.2) helpers for QIDO-RS and WADO-RS metadata, and the ordering of a
 * series into a stack. Pure: no Cornerstone, no fetch.
 */

export type DicomJson = Record<string, { vr?: string; Value?: unknown[] } | undefined>;

export const TAG = {
  studyUid: '0020000D',
  seriesUid: '0020000E',
  sopUid: '00080018',
  sopClassUid: '00080016',
  modality: '00080060',
  seriesDescription: '0008103E',
  seriesNumber: '00200011',
  instanceCount: '00201209',
  instanceNumber: '00200013',
  numberOfFrames: '00280008',
  imagePosition: '00200032',
  imageOrientation: '00200037',
  rows: '00280010',
  columns: '00280011',
  referencedSeriesSequence: '00081115',
  windowCenter: '00281050',
  windowWidth: '00281051',
  patientName: '00100010',
  patientId: '00100020',
  studyDate: '00080020',
  patientOrientation: '00200020',
  sliceLocation: '00201041',
} as const;

export const SEG_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.66.4';

export function tagFirst(item: DicomJson, tag: string): unknown {
  return item[tag]?.Value?.[0];
}

export function tagString(item: DicomJson, tag: string): string {
  const value = tagFirst(item, tag);
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return '';
}

/** A PN value (DICOM JSON keeps it as {Alphabetic: "Family^Given"}) as "Family, Given". */
export function tagPersonName(item: DicomJson, tag: string): string {
  const value = tagFirst(item, tag) as { Alphabetic?: unknown } | string | undefined;
  const text = typeof value === 'string' ? value : typeof value?.Alphabetic === 'string' ? value.Alphabetic : '';
  return text.split('^').filter(Boolean).slice(0, 2).join(', ');
}

/** Every value of a multi-valued string tag (e.g. PatientOrientation "L\\F" as ["L", "F"]). */
export function tagStrings(item: DicomJson, tag: string): string[] {
  return (item[tag]?.Value ?? []).map((v) => String(v));
}

export function tagNumber(item: DicomJson, tag: string): number | null {
  const value = tagFirst(item, tag);
  const number = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
  return Number.isFinite(number) ? number : null;
}

export function tagNumbers(item: DicomJson, tag: string): number[] | null {
  const values = item[tag]?.Value;
  if (!values || values.length === 0) return null;
  const numbers = values.map((v) => (typeof v === 'number' ? v : Number(v)));
  return numbers.every(Number.isFinite) ? numbers : null;
}

export interface SeriesInfo {
  readonly seriesUid: string;
  readonly modality: string;
  readonly description: string;
  readonly number: number | null;
  readonly instanceCount: number | null;
}

export function seriesInfoParse(items: readonly DicomJson[]): SeriesInfo[] {
  return items.map((item) => ({
    seriesUid: tagString(item, TAG.seriesUid),
    modality: tagString(item, TAG.modality),
    description: tagString(item, TAG.seriesDescription),
    number: tagNumber(item, TAG.seriesNumber),
    instanceCount: tagNumber(item, TAG.instanceCount),
  })).filter((s) => s.seriesUid !== '').sort((a, b) => (a.number ?? 1e9) - (b.number ?? 1e9));
}

function cross(a: number[], b: number[]): [number, number, number] {
  return [
    (a[1] ?? 0) * (b[2] ?? 0) - (a[2] ?? 0) * (b[1] ?? 0),
    (a[2] ?? 0) * (b[0] ?? 0) - (a[0] ?? 0) * (b[2] ?? 0),
    (a[0] ?? 0) * (b[1] ?? 0) - (a[1] ?? 0) * (b[0] ?? 0),
  ];
}

/** Order instances along the slice normal; InstanceNumber when geometry is missing. */
export function instancesSort(instances: readonly DicomJson[]): DicomJson[] {
  const first = instances[0];
  const orientation = first ? tagNumbers(first, TAG.imageOrientation) : null;
  const havePositions = instances.every((i) => tagNumbers(i, TAG.imagePosition)?.length === 3);
  if (orientation && orientation.length === 6 && havePositions) {
    const normal = cross(orientation.slice(0, 3), orientation.slice(3, 6));
    const distance = (i: DicomJson): number => {
      const p = tagNumbers(i, TAG.imagePosition) as number[];
      return (p[0] ?? 0) * normal[0] + (p[1] ?? 0) * normal[1] + (p[2] ?? 0) * normal[2];
    };
    return [...instances].sort((a, b) => distance(a) - distance(b));
  }
  return [...instances].sort((a, b) => (tagNumber(a, TAG.instanceNumber) ?? 0) - (tagNumber(b, TAG.instanceNumber) ?? 0));
}

/**
 * Whether a series can be shown as a volume (and so in MPR): cross-sectional modality, at
 * least three single-frame slices of the same size and orientation.
 */
export function seriesIsVolumetric(modality: string, instances: readonly DicomJson[]): boolean {
  if (!['CT', 'MR', 'PT', 'NM'].includes(modality)) return false;
  if (instances.length < 3) return false;
  const first = instances[0] as DicomJson;
  const rows = tagNumber(first, TAG.rows);
  const columns = tagNumber(first, TAG.columns);
  const orientation = tagNumbers(first, TAG.imageOrientation)?.join(',');
  return instances.every((i) =>
    (tagNumber(i, TAG.numberOfFrames) ?? 1) === 1
    && tagNumber(i, TAG.rows) === rows && tagNumber(i, TAG.columns) === columns
    && tagNumbers(i, TAG.imageOrientation)?.join(',') === orientation
    && tagNumbers(i, TAG.imagePosition)?.length === 3);
}

/** WADO-RS frame URLs as Cornerstone image ids (scheme "wadors:"). */
export function frameImageIds(root: string, studyUid: string, seriesUid: string, instance: DicomJson): string[] {
  const sop = tagString(instance, TAG.sopUid);
  const frames = Math.max(1, tagNumber(instance, TAG.numberOfFrames) ?? 1);
  const base = `wadors:${root}/studies/${studyUid}/series/${seriesUid}/instances/${sop}/frames/`;
  return Array.from({ length: frames }, (_, i) => `${base}${i + 1}`);
}
