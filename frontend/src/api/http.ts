/** Same-origin JSON over fetch: session cookie, X-CSRFToken on writes, typed errors. */

import type { AppConfig } from '../config';
import { ApiError, CLIENT_CODES, apiErrorFrom } from './errors';
import { type UploadListener, formSend } from './upload';

export type Query = Record<string, string | number | boolean | null | undefined>;

export function cookieRead(cookieHeader: string, name: string): string | null {
  for (const part of cookieHeader.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return null;
}

export function urlWithQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === null || value === undefined || value === '') continue;
    params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}${path.includes('?') ? '&' : '?'}${text}` : path;
}

export type UnauthenticatedHandler = () => void;

export class Http {
  private readonly config: AppConfig;
  private onUnauthenticated: UnauthenticatedHandler | null = null;

  constructor(config: AppConfig) {
    this.config = config;
  }

  setUnauthenticatedHandler(handler: UnauthenticatedHandler): void {
    this.onUnauthenticated = handler;
  }

  /** Path relative to the API root, e.g. "/patients/". */
  api(path: string): string {
    return `${this.config.apiRoot}${path}`;
  }

  async get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', urlWithQuery(this.api(path), query), undefined, signal);
  }

  async post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', this.api(path), body);
  }

  /** multipart/form-data (file uploads); the browser sets the boundary. */
  async postForm<T>(path: string, form: FormData): Promise<T> {
    return this.request<T>('POST', this.api(path), form);
  }

  /** postForm, telling `onProgress` how many bytes of the form have been sent. */
  async postFormWithProgress<T>(path: string, form: FormData, onProgress: UploadListener): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    const token = cookieRead(document.cookie, this.config.csrfCookieName);
    if (token) headers['X-CSRFToken'] = token;
    const answer = await formSend(this.api(path), form, headers, onProgress);
    return this.answer<T>(answer.status, answer.contentType, answer.text);
  }

  async patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', this.api(path), body);
  }

  async delete(path: string): Promise<void> {
    await this.request<unknown>('DELETE', this.api(path));
  }

  /** Absolute same-origin URL (for non-API paths such as /dicomweb/ or /logout/). */
  async raw(method: string, url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (method !== 'GET' && method !== 'HEAD') {
      const token = cookieRead(document.cookie, this.config.csrfCookieName);
      if (token) headers.set('X-CSRFToken', token);
    }
    try {
      return await fetch(url, { ...init, method, headers, credentials: 'same-origin' });
    } catch (error) {
      if (error instanceof DOMException && error.name === 'AbortError') throw error;
      throw new ApiError(0, { code: CLIENT_CODES.network, message: 'No connection to the server.', detail: null });
    }
  }

  private async request<T>(method: string, url: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    const init: RequestInit = { headers };
    if (signal) init.signal = signal;
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await this.raw(method, url, init);
    if (response.status === 204) return undefined as T;
    return this.answer<T>(response.status, response.headers.get('Content-Type') ?? '', await response.text());
  }

  /** The body of a finished request as T, or the ApiError it stands for. */
  private answer<T>(status: number, contentType: string, text: string): T {
    if (status === 204) return undefined as T;
    const isJson = contentType.includes('json');
    let parsed: unknown;
    if (isJson) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    if (status < 200 || status >= 300) {
      const error = apiErrorFrom(status, parsed);
      if (error.status === 401 || error.code === 'not_authenticated') this.onUnauthenticated?.();
      throw error;
    }
    if (!isJson) {
      throw new ApiError(status, {
        code: CLIENT_CODES.badResponse,
        message: 'The server answered with something other than JSON.',
        detail: null,
      });
    }
    return parsed as T;
  }
}
