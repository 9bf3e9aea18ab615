/**
 * API errors: the server answers every failure as {"code", "message", "detail"}
 * (cdss/core/api.py). This module turns a response into an ApiError and an ApiError into
 * messages a form can show next to its fields. Pure: no DOM, no fetch.
 */

export interface ApiErrorBody {
  readonly code: string;
  readonly message: string;
  readonly detail: unknown;
}

/** Codes the client itself produces for failures that never reached a JSON error body. */
export const CLIENT_CODES = {
  /** The endpoint is not part of this server (yet): a non-JSON 404 from Django's router. */
  endpointUnavailable: 'endpoint_unavailable',
  network: 'network_error',
  badResponse: 'bad_response',
} as const;

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: unknown;

  constructor(status: number, body: ApiErrorBody) {
    super(body.message);
    this.name = 'ApiError';
    this.status = status;
    this.code = body.code;
    this.detail = body.detail;
  }

  get isNotFound(): boolean {
    return this.status === 404 && this.code !== CLIENT_CODES.endpointUnavailable;
  }

  get isUnavailable(): boolean {
    return this.code === CLIENT_CODES.endpointUnavailable;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isApiErrorBody(value: unknown): value is ApiErrorBody {
  return isRecord(value) && typeof value.code === 'string' && typeof value.message === 'string';
}

/**
 * Build the error for a failed response. `body` is the parsed JSON, or undefined when the
 * response was not JSON (an HTML 404 from Django's URL router means "no such endpoint").
 */
export function apiErrorFrom(status: number, body: unknown): ApiError {
  if (isApiErrorBody(body)) {
    return new ApiError(status, { code: body.code, message: body.message, detail: body.detail ?? null });
  }
  if (status === 404 || status === 405 || status === 501) {
    return new ApiError(status, {
      code: CLIENT_CODES.endpointUnavailable,
      message: 'This server does not provide this feature yet.',
      detail: null,
    });
  }
  if (status >= 500) {
    return new ApiError(status, {
      code: 'server_error',
      message: 'The server had a problem. Try again in a moment.',
      detail: null,
    });
  }
  return new ApiError(status, {
    code: CLIENT_CODES.badResponse,
    message: `Unexpected answer from the server (HTTP ${status}).`,
    detail: null,
  });
}

/** Plain-language text for stable codes; the server's own message is the fallback. */
const CODE_MESSAGES: Readonly<Record<string, string>> = {
  unknown_unit: 'This unit is not accepted for this test. Pick one from the list.',
  unknown_analyte: 'This test is not in the catalogue.',
  implausible_value: 'This value is outside what is physically possible. Check the number and the unit.',
  not_a_number: 'Enter a number.',
  future_date: 'The date is in the future.',
  not_authenticated: 'Your session has ended. Sign in again.',
  permission_denied: 'You may view this record but not change it.',
  not_found: 'Not found, or not shared with you.',
  database_unavailable: 'The database is unavailable. Try again shortly.',
  service_unavailable: 'A service the system needs is unavailable. Try again shortly.',
  network_error: 'No connection to the server. Check the network and try again.',
  endpoint_unavailable: 'This server does not provide this feature yet.',
};

export function errorText(error: ApiError): string {
  return CODE_MESSAGES[error.code] ?? error.message;
}

export interface FormErrors {
  /** Messages keyed by field name. */
  readonly fields: Readonly<Record<string, string>>;
  /** A message for the whole form (codes without a field, non_field_errors). */
  readonly general: string | null;
}

function firstText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    for (const item of value) {
      const text = firstText(item);
      if (text) return text;
    }
    return null;
  }
  if (isRecord(value)) {
    if (typeof value.message === 'string') return value.message;
    for (const item of Object.values(value)) {
      const text = firstText(item);
      if (text) return text;
    }
  }
  return null;
}

/**
 * Map an error to per-field messages.
 *
 * Two shapes arrive: DRF serializer failures (code "validation_failed", detail
 * {field: [messages]}), and domain errors (code e.g. "unknown_unit", detail possibly naming
 * the field as {"field": "unit"}). Unknown fields go to `general` so nothing is lost.
 */
export function formErrors(error: ApiError, knownFields: readonly string[]): FormErrors {
  const fields: Record<string, string> = {};
  let general: string | null = null;
  const detail = error.detail;
  if (error.code === 'validation_failed' && isRecord(detail)) {
    for (const [key, value] of Object.entries(detail)) {
      const text = firstText(value);
      if (!text) continue;
      if (knownFields.includes(key)) fields[key] = text;
      else general = general ? `${general} ${text}` : text;
    }
    if (Object.keys(fields).length === 0 && general === null) general = errorText(error);
    return { fields, general };
  }
  if (error.code === 'validation_failed' && Array.isArray(detail)) {
    return { fields, general: firstText(detail) ?? errorText(error) };
  }
  const field = isRecord(detail) && typeof detail.field === 'string' ? detail.field : guessField(error.code);
  const text = CODE_MESSAGES[error.code] ?? error.message;
  if (field && knownFields.includes(field)) fields[field] = text;
  else general = text;
  return { fields, general };
}

function guessField(code: string): string | null {
  switch (code) {
    case 'unknown_unit':
      return 'unit';
    case 'implausible_value':
    case 'not_a_number':
      return 'value';
    case 'unknown_analyte':
      return 'analyte';
    default:
      return null;
  }
}
