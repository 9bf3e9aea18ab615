/**
 * Decode a DICOM SEG (Part 10) into per-frame binary masks with their segment numbers and the
 * source images they lie on. Only what overlays need: BINARY or FRACTIONAL segmentations,
 * uncompressed, frames referencing source instances or carrying their plane position.
 * Uses dicom-parser only (no code generation, so it runs under the portal's CSP).
 */

import dicomParser from 'dicom-parser';

export interface SegSegment {
  readonly number: number;
  readonly label: string;
  /** SegmentAlgorithmType (0062,0008): AUTOMATIC (a model), SEMIAUTOMATIC or MANUAL. */
  readonly algorithmType?: string;
  /** Code meanings of the segmented property category and type, e.g. "Organ", "Liver". */
  readonly category?: string;
  readonly propertyType?: string;
}

export interface SegFrame {
  readonly segmentNumber: number;
  readonly referencedSopUid: string | null;
  readonly position: readonly number[] | null;
  /** Row-major pixel indices (row * columns + column) that belong to the segment. */
  readonly pixels: Uint32Array;
}

export interface DecodedSeg {
  readonly rows: number;
  readonly columns: number;
  readonly description: string;
  readonly segments: readonly SegSegment[];
  readonly frames: readonly SegFrame[];
}

export class SegDecodeError extends Error {}

/** Indices of the set pixels of frame `frame` in a bit-packed stream (LSB first, frames contiguous). */
export function bitsFrameIndices(bytes: Uint8Array, frame: number, frameSize: number): Uint32Array {
  const found: number[] = [];
  const startBit = frame * frameSize;
  for (let p = 0; p < frameSize; p += 1) {
    const bit = startBit + p;
    if ((bytes[bit >> 3] ?? 0) & (1 << (bit & 7))) found.push(p);
  }
  return Uint32Array.from(found);
}

/** FRACTIONAL (8-bit) frames: a pixel belongs when at least half of the maximum. */
export function bytesFrameIndices(bytes: Uint8Array, frame: number, frameSize: number, maximum: number): Uint32Array {
  const found: number[] = [];
  const offset = frame * frameSize;
  const threshold = Math.max(1, maximum / 2);
  for (let p = 0; p < frameSize; p += 1) if ((bytes[offset + p] ?? 0) >= threshold) found.push(p);
  return Uint32Array.from(found);
}

type DataSet = dicomParser.DataSet;

function item(dataSet: DataSet | undefined, tag: string): DataSet | undefined {
  return dataSet?.elements[tag]?.items?.[0]?.dataSet;
}

function numbers(dataSet: DataSet | undefined, tag: string): number[] | null {
  const text = dataSet?.string(tag);
  if (!text) return null;
  const values = text.split('\\').map(Number);
  return values.every(Number.isFinite) ? values : null;
}

export function segDecode(buffer: ArrayBuffer): DecodedSeg {
  let dataSet: DataSet;
  try {
    dataSet = dicomParser.parseDicom(new Uint8Array(buffer));
  } catch (error) {
    throw new SegDecodeError(`not a DICOM file: ${String(error)}`);
  }
  if (dataSet.string('x00080060') !== 'SEG') throw new SegDecodeError('not a segmentation (Modality is not SEG)');
  const transferSyntax = dataSet.string('x00020010') ?? '';
  if (!['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', ''].includes(transferSyntax)) {
    throw new SegDecodeError(`compressed SEG (${transferSyntax}) is not supported`);
  }
  const rows = dataSet.uint16('x00280010') ?? 0;
  const columns = dataSet.uint16('x00280011') ?? 0;
  const frameCount = Number(dataSet.string('x00280008') ?? '1');
  const bitsAllocated = dataSet.uint16('x00280100') ?? 1;
  const pixelElement = dataSet.elements.x7fe00010;
  if (!rows || !columns || !pixelElement) throw new SegDecodeError('no pixel data');
  const bytes = new Uint8Array(dataSet.byteArray.buffer, dataSet.byteArray.byteOffset + pixelElement.dataOffset, pixelElement.length);
  const maximum = Number(dataSet.string('x00620010') ? dataSet.uint16('x0062000e') ?? 255 : 255);
  const segments: SegSegment[] = (dataSet.elements.x00620002?.items ?? []).map((entry) => ({
    number: entry.dataSet?.uint16('x00620004') ?? 0,
    label: entry.dataSet?.string('x00620005') ?? '',
    algorithmType: entry.dataSet?.string('x00620008') ?? '',
    category: item(entry.dataSet, 'x00620003')?.string('x00080104') ?? '',
    propertyType: item(entry.dataSet, 'x0062000f')?.string('x00080104') ?? '',
  })).filter((s) => s.number > 0).map((s) => ({ ...s, label: s.label || `Segment ${s.number}` }));
  const shared = item(dataSet, 'x52009229');
  const perFrame = dataSet.elements.x52009230?.items ?? [];
  const frameSize = rows * columns;
  const frames: SegFrame[] = [];
  for (let f = 0; f < frameCount; f += 1) {
    const groups = perFrame[f]?.dataSet;
    const segmentNumber = item(groups, 'x0062000a')?.uint16('x0062000b') ?? item(shared, 'x0062000a')?.uint16('x0062000b') ?? 1;
    const source = item(item(groups, 'x00089124'), 'x00082112');
    const position = numbers(item(groups, 'x00209113'), 'x00200032');
    const pixels = bitsAllocated === 1 ? bitsFrameIndices(bytes, f, frameSize) : bytesFrameIndices(bytes, f, frameSize, maximum);
    frames.push({ segmentNumber, referencedSopUid: source?.string('x00081155') ?? null, position, pixels });
  }
  return { rows, columns, description: dataSet.string('x0008103e') ?? '', segments, frames };
}
