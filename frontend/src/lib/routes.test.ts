import { describe, expect, it } from 'vitest';
import { ageYears, relativeTime } from './format';
import { routeHref, routeMatch } from './routes';

describe('routes', () => {
  it('matches every portal route', () => {
    expect(routeMatch('/', '')).toEqual({ name: 'home' });
    expect(routeMatch('/patients', '?q=smith')).toEqual({ name: 'patients', q: 'smith' });
    expect(routeMatch('/patients/12', '')).toEqual({ name: 'patient', patientId: 12 });
    expect(routeMatch('/studies/1.2.840.1', '?patient=4')).toEqual({
      name: 'study', studyUid: '1.2.840.1', patientId: 4, seriesUid: null,
    });
    expect(routeMatch('/reports/3', '')).toEqual({ name: 'report', reportId: 3 });
    expect(routeMatch('/dashboard', '')).toEqual({ name: 'dashboard' });
  });

  it('refuses malformed ids and UIDs', () => {
    expect(routeMatch('/patients/abc', '').name).toBe('notFound');
    expect(routeMatch('/patients/0', '').name).toBe('notFound');
    expect(routeMatch('/studies/<script>', '').name).toBe('notFound');
  });

  it('round-trips through routeHref', () => {
    const route = { name: 'study', studyUid: '1.2.3', patientId: 5, seriesUid: '1.2.3.4' } as const;
    const href = new URL(routeHref(route), 'http://x');
    expect(routeMatch(href.pathname, href.search)).toEqual(route);
  });
});

describe('format', () => {
  it('computes age in whole years', () => {
    expect(ageYears('1965-04-12', new Date('2025-04-11T12:00:00Z'))).toBe(59);
    expect(ageYears('1965-04-12', new Date('2025-04-12T12:00:00Z'))).toBe(60);
    expect(ageYears('garbage')).toBeNull();
  });

  it('says how long ago', () => {
    const now = new Date('2025-01-10T12:00:00Z');
    expect(relativeTime('2025-01-10T11:59:30Z', now)).toBe('just now');
    expect(relativeTime('2025-01-10T11:00:00Z', now)).toBe('1 h ago');
    expect(relativeTime('2025-01-09T12:00:00Z', now)).toBe('yesterday');
  });

  it('keeps the image a report links to', () => {
    const route = { name: 'study', studyUid: '1.2.3', patientId: 5, seriesUid: '1.2.3.4', instanceUid: '1.2.3.4.15' } as const;
    const href = routeHref(route);
    expect(href).toBe('/studies/1.2.3?patient=5&series=1.2.3.4&instance=1.2.3.4.15');
    const url = new URL(href, 'http://x');
    expect(routeMatch(url.pathname, url.search)).toEqual(route);
    expect(routeMatch('/studies/1.2.3', '?instance=bad%20uid')).toEqual({ name: 'study', studyUid: '1.2.3', patientId: null, seriesUid: null });
  });
});
