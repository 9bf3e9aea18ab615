/**
 * DICOM SEG from the PACS: find the SEG instances that reference a series (QIDO/WADO-RS
 * metadata), fetch one as a Part-10 file (WADO-RS multipart), and split the multipart body.
 * The parsing helpers are pure and unit-tested.
 */

import { type DicomJson, SEG_SOP_CLASS, TAG, tagString } from './dicomJson';

export function boundaryOf(contentType: string): string | null {
  const match = /boundary="?([^";]+)"?/i.exec(contentType);
  return match ? (match[1] as string) : null;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i <= haystack.length - needle.length; i += 1) {
    for (let j = 0; j < needle.length; j += 1) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** The bodies of a multipart/related message (headers stripped), in order. */
export function multipartParts(body: Uint8Array, contentType: string): Uint8Array[] {
  const boundary = boundaryOf(contentType);
  if (!boundary) return [body];
  const encoder = new TextEncoder();
  const delimiter = encoder.encode(`--${boundary}`);
  const headerEnd = encoder.encode('\r\n\r\n');
  const parts: Uint8Array[] = [];
  let start = indexOf(body, delimiter, 0);
  while (start >= 0) {
    const afterDelimiter = start + delimiter.length;
    if (body[afterDelimiter] === 45 && body[afterDelimiter + 1] === 45) break; // "--": the end
    const headersEnd = indexOf(body, headerEnd, afterDelimiter);
    if (headersEnd < 0) break;
    const next = indexOf(body, delimiter, headersEnd + 4);
    if (next < 0) break;
    // The part ends before the CRLF that precedes the next delimiter.
    const end = body[next - 2] === 13 && body[next - 1] === 10 ? next - 2 : next;
    parts.push(body.subarray(headersEnd + 4, end));
    start = next;
  }
  return parts;
}

/** SeriesInstanceUIDs a SEG instance says it segments (ReferencedSeriesSequence). */
export function segReferencedSeries(instance: DicomJson): string[] {
  const items = instance[TAG.referencedSeriesSequence]?.Value ?? [];
  return items.flatMap((item) => {
    const uid = tagString(item as DicomJson, TAG.seriesUid);
    return uid ? [uid] : [];
  });
}

export interface SegInstanceRef {
  readonly seriesUid: string;
  readonly sopUid: string;
  readonly description: string;
}

/** Among a SEG series' instance metadata, those that reference `seriesUid`. */
export function segInstancesFor(seriesUid: string, segSeriesUid: string, instances: readonly DicomJson[]): SegInstanceRef[] {
  return instances
    .filter((i) => tagString(i, TAG.sopClassUid) === SEG_SOP_CLASS && segReferencedSeries(i).includes(seriesUid))
    .map((i) => ({ seriesUid: segSeriesUid, sopUid: tagString(i, TAG.sopUid), description: tagString(i, TAG.seriesDescription) }));
}

export async function segInstanceFetch(root: string, studyUid: string, ref: SegInstanceRef): Promise<ArrayBuffer> {
  const response = await fetch(`${root}/studies/${studyUid}/series/${ref.seriesUid}/instances/${ref.sopUid}`, {
    credentials: 'same-origin',
    headers: { Accept: 'multipart/related; type="application/dicom"' },
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const body = new Uint8Array(await response.arrayBuffer());
  const part = multipartParts(body, response.headers.get('Content-Type') ?? '')[0];
  if (!part) throw new Error('empty answer');
  return part.slice().buffer;
}
