import { describe, expect, it } from 'vitest';
import { contributionsParse, modelsParse } from './report';

describe('report content', () => {
  it('reads contributions in any of the shapes the server may send, largest first', () => {
    expect(contributionsParse({ age: 0.2, albumin: -0.9 })).toEqual([
      { feature: 'albumin', value: -0.9 }, { feature: 'age', value: 0.2 },
    ]);
    expect(contributionsParse([{ feature: 'ast', contribution: 0.5 }, ['alt', 0.1], { junk: true }])).toEqual([
      { feature: 'ast', value: 0.5 }, { feature: 'alt', value: 0.1 },
    ]);
    expect(contributionsParse('nope')).toEqual([]);
  });

  it('reads model versions and weight hashes', () => {
    expect(modelsParse([{ key: 'liver_ct_seg', version: '1.0', weights_sha256: 'ab12' }, 'noop'])).toEqual([
      { key: 'liver_ct_seg', version: '1.0', sha256: 'ab12', extra: {} },
      { key: 'noop', version: '', sha256: null, extra: {} },
    ]);
  });
});
