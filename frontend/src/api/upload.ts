/**
 * A form POST that reports how much of its body has been sent: fetch() cannot (its upload
 * streams need HTTP/2 and give no progress events), XMLHttpRequest's upload events can.
 */

import { etaFromPace } from '../lib/progress';
import { ApiError, CLIENT_CODES } from './errors';

/** Bytes sent of the request body's total, and the seconds left at the pace so far. */
export type UploadListener = (sent: number, total: number, etaS: number | null) => void;

export interface RawAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

export function formSend(
  url: string,
  form: FormData,
  headers: Readonly<Record<string, string>>,
  onProgress: UploadListener,
  clock: () => number = () => performance.now(),
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    const started = clock();
    xhr.upload.addEventListener('progress', (event) => {
      if (!event.lengthComputable) return;
      onProgress(event.loaded, event.total, etaFromPace(event.loaded, event.total, (clock() - started) / 1000));
    });
    xhr.addEventListener('load', () => {
      resolve({ status: xhr.status, contentType: xhr.getResponseHeader('Content-Type') ?? '', text: xhr.responseText });
    });
    const failed = (): void => reject(new ApiError(0, { code: CLIENT_CODES.network, message: 'No connection to the server.', detail: null }));
    xhr.addEventListener('error', failed);
    xhr.addEventListener('abort', failed);
    xhr.send(form);
  });
}
