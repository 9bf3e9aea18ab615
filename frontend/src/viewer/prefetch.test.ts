import { describe, expect, it, vi } from 'vitest';
import { TAG, type DicomJson } from './dicomJson';
import { seriesToShow, studyPrefetch, studyPrefetchEarly, studyPrefetchTake } from './prefetch';

const series = (uid: string, modality: string, number: number): DicomJson => ({
  [TAG.seriesUid]: { vr: 'UI', Value: [uid] }, [TAG.modality]: { vr: 'CS', Value: [modality] }, [TAG.seriesNumber]: { vr: 'IS', Value: [number] },
});

/** A fake fetch that records the URLs asked for, answering from `answers`. */
function recorder(answers: Record<string, DicomJson[]>) {
  const asked: string[] = [];
  const get = (url: string): Promise<DicomJson[]> => {
    asked.push(url);
    const answer = answers[url];
    return answer ? Promise.resolve(answer) : Promise.reject(new Error('HTTP 404'));
  };
  return { asked, get };
}

describe('study prefetch', () => {
  it('asks for the series list and the named series at once, and hands the metadata out once', async () => {
    const { asked, get } = recorder({ '/dw/studies/1.2/series': [series('1.2.3', 'CT', 1)], '/dw/studies/1.2/series/1.2.3/metadata': [{}] });
    const prefetch = studyPrefetch('/dw', '1.2', '1.2.3', get);
    expect(asked).toEqual(['/dw/studies/1.2/series', '/dw/studies/1.2/series/1.2.3/metadata']);
    expect(await prefetch.metadata('1.2.3')).toEqual([{}]);
    expect(prefetch.metadata('1.2.3')).toBeNull();
    expect(prefetch.metadata('9.9')).toBeNull();
  });

  it('asks for the first image series once the list is in when the page names none', async () => {
    const { asked, get } = recorder({
      '/dw/studies/1.2/series': [series('1.2.9', 'SEG', 1), series('1.2.4', 'CT', 2)],
      '/dw/studies/1.2/series/1.2.4/metadata': [{}],
    });
    const prefetch = studyPrefetch('/dw', '1.2', null, get);
    await prefetch.series;
    expect(asked).toEqual(['/dw/studies/1.2/series', '/dw/studies/1.2/series/1.2.4/metadata']);
    expect(await prefetch.metadata('1.2.4')).toEqual([{}]);
  });

  it('keeps a failed read for the viewer to report', async () => {
    const { get } = recorder({});
    const prefetch = studyPrefetch('/dw', '1.2', '1.2.3', get);
    await expect(prefetch.series).rejects.toThrow('HTTP 404');
    await expect(prefetch.metadata('1.2.3')).rejects.toThrow('HTTP 404');
  });

  it('opens the named series, else the first series of images', () => {
    const list = [
      { seriesUid: 'seg', modality: 'SEG', description: '', number: 1, instanceCount: 1 },
      { seriesUid: 'ct', modality: 'CT', description: '', number: 2, instanceCount: 120 },
    ];
    expect(seriesToShow(list, null)?.seriesUid).toBe('ct');
    expect(seriesToShow(list, 'seg')?.seriesUid).toBe('seg');
    expect(seriesToShow(list, 'missing')?.seriesUid).toBe('ct');
    expect(seriesToShow([], null)).toBeUndefined();
  });

  it('hands the reads started as the app opened to the page of that study, once', () => {
    const { asked, get } = recorder({});
    const calls: string[] = [];
    const saved = globalThis.fetch;
    globalThis.fetch = ((url: string) => {
      calls.push(url);
      return Promise.resolve(new Response('[]', { status: 200 }));
    }) as typeof fetch;
    try {
      studyPrefetchEarly('/dw', '1.2', null);
      expect(calls).toEqual(['/dw/studies/1.2/series']);
      const taken = studyPrefetchTake('/dw', '1.2', null, get);
      expect(asked).toEqual([]); // nothing asked again
      expect(taken.series).toBeInstanceOf(Promise);
      studyPrefetchTake('/dw', '1.2', null, get);
      expect(asked).toEqual(['/dw/studies/1.2/series']); // taken once: a later page asks afresh
      studyPrefetchEarly('/dw', '1.2', null);
      studyPrefetchTake('/dw', '9.9', null, get);
      expect(asked).toEqual(['/dw/studies/1.2/series', '/dw/studies/9.9/series']); // another study
      vi.useFakeTimers({ toFake: ['performance'] });
      studyPrefetchEarly('/dw', '1.2', null);
      vi.advanceTimersByTime(11_000);
      studyPrefetchTake('/dw', '1.2', null, get);
      expect(asked.at(-1)).toBe('/dw/studies/1.2/series'); // too late: read afresh
      expect(asked).toHaveLength(3);
    } finally {
      vi.useRealTimers();
      globalThis.fetch = saved;
    }
  });
});
