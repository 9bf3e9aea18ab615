import { describe, expect, it } from 'vitest';
import { apiErrorFrom, errorText, formErrors } from './errors';

describe('apiErrorFrom', () => {
  it('keeps the server code, message and detail', () => {
    const error = apiErrorFrom(400, { code: 'unknown_unit', message: 'Unit "mg" is not accepted', detail: { field: 'unit' } });
    expect(error.status).toBe(400);
    expect(error.code).toBe('unknown_unit');
    expect(error.detail).toEqual({ field: 'unit' });
  });

  it('treats a non-JSON 404 as an endpoint this server does not have', () => {
    const error = apiErrorFrom(404, undefined);
    expect(error.code).toBe('endpoint_unavailable');
    expect(error.isUnavailable).toBe(true);
    expect(error.isNotFound).toBe(false);
  });

  it('treats a JSON 404 as "not found or not yours"', () => {
    const error = apiErrorFrom(404, { code: 'not_found', message: 'Not found.', detail: null });
    expect(error.isNotFound).toBe(true);
    expect(errorText(error)).toMatch(/not shared with you/);
  });

  it('names server errors without leaking internals', () => {
    expect(apiErrorFrom(502, '<html>').code).toBe('server_error');
  });
});

describe('formErrors', () => {
  const fields = ['analyte', 'value', 'unit', 'effective_at'];

  it('maps DRF field errors to the fields and the rest to general', () => {
    const error = apiErrorFrom(400, {
      code: 'validation_failed', message: 'The request is not valid.',
      detail: { value: ['A valid number is required.'], non_field_errors: ['Duplicate result.'] },
    });
    expect(formErrors(error, fields)).toEqual({
      fields: { value: 'A valid number is required.' },
      general: 'Duplicate result.',
    });
  });

  it('places domain codes on their field with plain-language text', () => {
    const unit = formErrors(apiErrorFrom(400, { code: 'unknown_unit', message: 'x', detail: null }), fields);
    expect(unit.fields.unit).toMatch(/unit is not accepted/);
    const implausible = formErrors(apiErrorFrom(400, { code: 'implausible_value', message: 'x', detail: { field: 'value' } }), fields);
    expect(implausible.fields.value).toMatch(/physically possible/);
  });

  it('falls back to the server message for codes it does not know', () => {
    const result = formErrors(apiErrorFrom(409, { code: 'duplicate_observation', message: 'Already recorded.', detail: null }), fields);
    expect(result).toEqual({ fields: {}, general: 'Already recorded.' });
  });
});
