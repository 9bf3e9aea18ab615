/**
 * The study's first DICOMweb reads, started by the study page before the viewer's code (a large
 * chunk) has loaded: the series list (QIDO-RS) and the metadata of the series shown first. The
 * viewer takes these answers instead of asking again, so its first image waits for the slower of
 * its code and the metadata, not for their sum. No Cornerstone here: this module is in the main
 * chunk.
 */

import { type DicomJson, type SeriesInfo, seriesInfoParse } from './dicomJson';

/** GET a DICOM JSON answer (QIDO-RS or WADO-RS metadata) with the session's cookie. */
export async function dicomJsonFetch(url: string): Promise<DicomJson[]> {
  const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/dicom+json, application/json' } });
  if (response.status === 204) return [];
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return (await response.json()) as DicomJson[];
}

/**
 * The series a viewer opens first: the one asked for when the study has it, else the first
 * series of images (not SEG, SR or PR), else the first.
 */
export function seriesToShow(series: readonly SeriesInfo[], wanted: string | null): SeriesInfo | undefined {
  const images = series.filter((s) => s.modality !== 'SEG' && s.modality !== 'SR' && s.modality !== 'PR');
  return series.find((s) => s.seriesUid === wanted) ?? images[0] ?? series[0];
}

export interface StudyPrefetch {
  /** The study's series (QIDO-RS), as DICOM JSON. */
  readonly series: Promise<DicomJson[]>;
  /**
   * The metadata of this series if it was fetched ahead, handed out once (a later view of the
   * series reads it afresh); null when it was not.
   */
  metadata(seriesUid: string): Promise<DicomJson[]> | null;
}

type Fetch = (url: string) => Promise<DicomJson[]>;

/**
 * Start the reads now. The metadata request starts at once when the page names the series
 * (a link to a series or a key image), else as soon as the series list has answered.
 */
export function studyPrefetch(root: string, studyUid: string, seriesUid: string | null, get: Fetch = dicomJsonFetch): StudyPrefetch {
  const study = `${root}/studies/${studyUid}`;
  const ahead = new Map<string, Promise<DicomJson[]>>();
  const start = (uid: string): void => {
    const answer = get(`${study}/series/${uid}/metadata`);
    answer.catch(() => undefined); // the viewer reports a failure when it reads the answer
    ahead.set(uid, answer);
  };
  const series = get(`${study}/series`);
  series.catch(() => undefined);
  if (seriesUid) {
    start(seriesUid);
  } else {
    // Registered before any reader of `series`, so the request is out before the viewer asks.
    void series.then((items) => {
      const first = seriesToShow(seriesInfoParse(items), null);
      if (first) start(first.seriesUid);
    }, () => undefined);
  }
  return {
    series,
    metadata(uid: string): Promise<DicomJson[]> | null {
      const answer = ahead.get(uid) ?? null;
      ahead.delete(uid);
      return answer;
    },
  };
}

let early: { readonly key: string; readonly at: number; readonly prefetch: StudyPrefetch } | null = null;

/**
 * Reads started early serve only a study page opened soon after (the app's start): a page opened
 * later (the app went elsewhere first) reads afresh, so that it lists series stored since.
 */
const EARLY_TAKE_MS = 10_000;

/**
 * Start a study's reads as the app opens on its page (main.ts), before it has asked who is
 * signed in; the study page then takes them (`studyPrefetchTake`). A signed-out visitor's reads
 * are refused like any other and the app goes to the login page.
 */
export function studyPrefetchEarly(root: string, studyUid: string, seriesUid: string | null): void {
  early = { key: `${root} ${studyUid} ${seriesUid ?? ''}`, at: performance.now(), prefetch: studyPrefetch(root, studyUid, seriesUid) };
}

/** The reads started early for this study and series if there are any (once), else new ones. */
export function studyPrefetchTake(root: string, studyUid: string, seriesUid: string | null, get: Fetch = dicomJsonFetch): StudyPrefetch {
  const fresh = early !== null && performance.now() - early.at < EARLY_TAKE_MS;
  const found = fresh && early?.key === `${root} ${studyUid} ${seriesUid ?? ''}` ? early.prefetch : null;
  early = null;
  return found ?? studyPrefetch(root, studyUid, seriesUid, get);
}
