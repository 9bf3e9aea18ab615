import { describe, expect, it } from 'vitest';
import { auditApiQuery, auditFiltersRead, auditFiltersSearch } from './audit';

describe('audit filters', () => {
  it('reads only well-formed filters from the URL', () => {
    const filters = auditFiltersRead('?patient_id=12&action=read&outcome=nope&actor=%20ada%20&page=3');
    expect(filters).toEqual({ patient_id: '12', actor: 'ada', action: 'read', outcome: '', since: '', until: '', page: 3 });
    expect(auditFiltersRead('?patient_id=%C2%B2&page=-1').patient_id).toBe('');
    expect(auditFiltersRead('?page=abc').page).toBe(1);
  });

  it('round-trips through the URL, leaving out empty filters', () => {
    const filters = auditFiltersRead('?outcome=denied&actor=bob');
    expect(auditFiltersSearch(filters)).toBe('?actor=bob&outcome=denied');
    expect(auditFiltersSearch(auditFiltersRead(''))).toBe('');
  });

  it('sends instants for the time filters and nothing for empty ones', () => {
    const query = auditApiQuery(auditFiltersRead('?since=2026-01-02T03:04'));
    expect(query.since).toBe(new Date('2026-01-02T03:04').toISOString());
    expect(query.until).toBeNull();
    expect(query.page).toBeNull();
  });
});

describe('audit route', () => {
  it('is a route of its own', async () => {
    const { routeHref, routeMatch } = await import('../lib/routes');
    expect(routeMatch('/audit', '?outcome=denied')).toEqual({ name: 'audit' });
    expect(routeHref({ name: 'audit' })).toBe('/audit');
  });
});
