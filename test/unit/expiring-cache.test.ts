import { describe, expect, it } from 'vitest';
import { MAX_CACHE_KEY_CHARS } from '../../src/constants.ts';
import { ExpiringCache, type LoadOptions } from '../../src/util/expiring-cache.ts';

const forever: LoadOptions<number> = { expiresAt: () => Infinity };
const until = (t: number): LoadOptions<number> => ({ expiresAt: () => t });

/** A loader whose calls are counted and whose answers the test releases by hand. */
function gate<V>() {
  let calls = 0;
  const waiting: { resolve: (v: V) => void; reject: (e: unknown) => void }[] = [];
  const loader = () => {
    calls++;
    return new Promise<V>((resolve, reject) => waiting.push({ resolve, reject }));
  };
  return {
    loader,
    calls: () => calls,
    resolve: (v: V) => waiting.shift()!.resolve(v),
    reject: (e: unknown) => waiting.shift()!.reject(e),
  };
}

describe('expiring cache (issue 13 item 3)', () => {
  it('serves an entry until its expiry, not at or after it, and counts hits and misses', () => {
    const c = new ExpiringCache<string>({ maxEntries: 10 });
    expect(c.set('k', 'v', 110, 100)).toBe(true);
    expect(c.get('k', 109)).toBe('v');
    expect(c.get('k', 110)).toBeUndefined();
    expect(c.size).toBe(0);
    expect(c.get('other', 100)).toBeUndefined();
    expect(c.stats).toMatchObject({ hits: 1, misses: 2, expired: 1, entries: 0 });
  });

  it('does not store a value that is already expired, and a new value replaces the old one', () => {
    const c = new ExpiringCache<string>({ maxEntries: 10 });
    expect(c.set('k', 'old', 200, 100)).toBe(true);
    expect(c.set('k', 'gone', 100, 100)).toBe(false);
    expect(c.get('k', 100)).toBeUndefined();
    c.set('k', 'a', 200, 100);
    c.set('k', 'b', 200, 100);
    expect(c.get('k', 100)).toBe('b');
    expect(c.size).toBe(1);
  });

  it('evicts expired entries first, then the oldest inserted; reads do not reorder', () => {
    const c = new ExpiringCache<string>({ maxEntries: 3 });
    c.set('a', 'a', 1000, 0);
    c.set('b', 'b', 50, 0); // expires first, though not the oldest
    c.set('c', 'c', 1000, 0);
    c.get('a', 60); // a hit does not make `a` younger
    c.set('d', 'd', 1000, 60); // full: the expired `b` goes, not the oldest `a`
    expect([c.get('a', 60), c.get('b', 60), c.get('c', 60), c.get('d', 60)]).toEqual(['a', undefined, 'c', 'd']);
    c.set('e', 'e', 1000, 60); // full, nothing expired: the oldest inserted (`a`) goes
    expect([c.get('a', 60), c.get('c', 60), c.get('d', 60), c.get('e', 60)]).toEqual([undefined, 'c', 'd', 'e']);
    c.set('c', 'c2', 1000, 60); // re-setting makes `c` the newest
    c.set('f', 'f', 1000, 60);
    expect([c.get('c', 60), c.get('d', 60), c.get('e', 60), c.get('f', 60)]).toEqual(['c2', undefined, 'e', 'f']);
    expect(c.stats).toMatchObject({ evictions: 2, expired: 1, entries: 3 });
  });

  it('stays within maxEntries under a flood of 100 000 distinct keys, sweeping at most once per maxEntries / 2 inserts', () => {
    const c = new ExpiringCache<number>({ maxEntries: 1000 });
    let most = 0;
    for (let i = 0; i < 100_000; i++) {
      c.set(`k${i}`, i, 10_000, 0);
      most = Math.max(most, c.size);
    }
    expect(most).toBe(1000);
    // The newest 1000 survive; everything older was evicted, oldest first.
    expect(c.get('k98999', 0)).toBeUndefined();
    expect(c.get('k99000', 0)).toBe(99_000);
    expect(c.get('k99999', 0)).toBe(99_999);
    // No full scan per insert: each sweep (visiting ≤ 1000 entries) follows ≥ 500 inserts.
    expect(c.stats).toMatchObject({ evictions: 99_000, expired: 0 });
    expect(c.stats.sweeps).toBeGreaterThan(0);
    expect(c.stats.sweeps).toBeLessThanOrEqual(100_000 / 500);
  });

  it('under a flood, drops the entries that expired meanwhile before live ones', () => {
    const c = new ExpiringCache<number>({ maxEntries: 1000 });
    // Every other entry is short-lived; at t=100 they are all expired.
    for (let i = 0; i < 1000; i++) c.set(`old${i}`, i, i % 2 === 0 ? 50 : 10_000, 0);
    for (let i = 0; i < 500; i++) c.set(`new${i}`, i, 10_000, 100);
    expect(c.stats).toMatchObject({ entries: 1000, expired: 500, evictions: 0 });
    expect(c.get('old1', 100)).toBe(1);
    expect(c.get('old999', 100)).toBe(999);
  });

  it('evicts oldest entries to stay within maxBytes, key included, and refuses a value larger than the bound', () => {
    const sizes: [string, string][] = [];
    const c = new ExpiringCache<string>({
      maxEntries: 100,
      maxBytes: 1000,
      sizeOf: (k, v) => {
        sizes.push([k, v]);
        return k.length + v.length;
      },
    });
    c.set('a'.repeat(300), 'x'.repeat(100), 99, 0); // 400
    c.set('b'.repeat(300), 'x'.repeat(100), 99, 0); // 800
    expect(c.stats.bytes).toBe(800);
    c.set('c'.repeat(300), 'x'.repeat(100), 99, 0); // 1200 > 1000: `a…` goes
    expect(c.stats.bytes).toBe(800);
    expect(c.get('a'.repeat(300), 0)).toBeUndefined();
    expect(c.get('b'.repeat(300), 0)).toBeDefined();
    expect(c.set('d', 'x'.repeat(1000), 99, 0)).toBe(false);
    expect(c.get('d', 0)).toBeUndefined();
    expect(c.stats).toMatchObject({ bytes: 800, entries: 2 });
    // sizeOf is called once per insert, never on a read.
    expect(sizes).toHaveLength(4);
  });

  it('stays within maxBytes under a flood of 100 000 distinct keys of varying length', () => {
    const c = new ExpiringCache<number>({ maxEntries: 100_000, maxBytes: 64 * 1024, sizeOf: (k) => k.length });
    let most = 0;
    for (let i = 0; i < 100_000; i++) {
      c.set(`${i}:${'p'.repeat(i % 500)}`, i, 10, 0);
      most = Math.max(most, c.stats.bytes);
    }
    expect(most).toBeLessThanOrEqual(64 * 1024);
    expect(c.get(`99999:${'p'.repeat(99_999 % 500)}`, 0)).toBe(99_999);
    expect(c.stats.sweeps).toBeLessThanOrEqual(100_000 / 2);
  });

  it('never caches a key longer than V8 hashes in full, and loads it without single flight', async () => {
    const c = new ExpiringCache<number>({ maxEntries: 10 });
    const long = 'k'.repeat(MAX_CACHE_KEY_CHARS + 1);
    const short = 'k'.repeat(MAX_CACHE_KEY_CHARS);
    expect(c.set(long, 1, 10, 0)).toBe(false);
    expect(c.get(long, 0)).toBeUndefined();
    expect(c.set(short, 2, 10, 0)).toBe(true);
    let calls = 0;
    const loader = async () => ++calls;
    const answers = await Promise.all([c.load(long, 0, loader, forever), c.load(long, 0, loader, forever)]);
    expect(answers.map((a) => a.source)).toEqual(['loaded', 'loaded']);
    expect(calls).toBe(2);
    expect(c.stats).toMatchObject({ entries: 1, inflight: 0 });
  });

  it('rejects bounds that cannot be honoured', () => {
    expect(() => new ExpiringCache({ maxEntries: 0 })).toThrow(RangeError);
    expect(() => new ExpiringCache({ maxEntries: 1.5 })).toThrow(RangeError);
    expect(() => new ExpiringCache({ maxEntries: 1, maxBytes: 10 })).toThrow(RangeError);
  });

  it('shares one loader call among concurrent callers (single flight), then serves from the cache', async () => {
    const c = new ExpiringCache<number>({ maxEntries: 10 });
    const g = gate<number>();
    const waiting = Array.from({ length: 50 }, () => c.load('k', 0, g.loader, forever));
    expect(g.calls()).toBe(1);
    g.resolve(7);
    const answers = await Promise.all(waiting);
    expect(answers.map((a) => a.value)).toEqual(Array(50).fill(7));
    expect(answers.filter((a) => a.source === 'loaded')).toHaveLength(1);
    expect(answers.filter((a) => a.source === 'shared')).toHaveLength(49);
    expect(await c.load('k', 0, g.loader, forever)).toEqual({ value: 7, source: 'cache' });
    expect(g.calls()).toBe(1);
    expect(c.stats).toMatchObject({ loads: 1, shared: 49, hits: 1, misses: 50, inflight: 0 });
  });

  it('never caches a failure: every waiter gets it, and the next call loads anew', async () => {
    const c = new ExpiringCache<number>({ maxEntries: 10 });
    const g = gate<number>();
    const waiting = Array.from({ length: 5 }, () => c.load('k', 0, g.loader, forever).catch((e: unknown) => e));
    g.reject(new Error('upstream down'));
    expect((await Promise.all(waiting)).map((e) => (e as Error).message)).toEqual(Array(5).fill('upstream down'));
    expect(c.size).toBe(0);
    const next = c.load('k', 0, g.loader, forever);
    expect(g.calls()).toBe(2);
    g.resolve(1);
    expect(await next).toEqual({ value: 1, source: 'loaded' });
  });

  it('turns a loader that throws synchronously into a rejection, and recovers', async () => {
    const c = new ExpiringCache<number>({ maxEntries: 10 });
    await expect(
      c.load(
        'k',
        0,
        () => {
          throw new Error('sync');
        },
        forever,
      ),
    ).rejects.toThrow('sync');
    expect(c.stats.inflight).toBe(0);
    expect(await c.load('k', 0, async () => 2, forever)).toEqual({ value: 2, source: 'loaded' });
  });

  it('caches a loaded value only if cacheIf holds and it expires after now', async () => {
    const c = new ExpiringCache<number>({ maxEntries: 10 });
    await c.load('odd', 0, async () => 3, { ...forever, cacheIf: (v) => v % 2 === 0 });
    expect(c.get('odd', 0)).toBeUndefined();
    await c.load('even', 0, async () => 4, { ...forever, cacheIf: (v) => v % 2 === 0 });
    expect(c.get('even', 0)).toBe(4);
    await c.load('stale', 100, async () => 5, until(100));
    expect(c.get('stale', 99)).toBeUndefined();
    await c.load('timed', 100, async () => 6, until(150));
    expect(c.get('timed', 149)).toBe(6);
    expect(c.get('timed', 150)).toBeUndefined();
  });

  it('reloads a value due for renewal and keeps serving it through get until the new one lands', async () => {
    const c = new ExpiringCache<number>({ maxEntries: 10 });
    const renewAhead: LoadOptions<number> = { expiresAt: () => 1000, renewIf: (_v, now) => now >= 900 };
    await c.load('k', 0, async () => 1, renewAhead);
    expect(await c.load('k', 899, async () => 2, renewAhead)).toEqual({ value: 1, source: 'cache' });
    const g = gate<number>();
    const renewing = c.load('k', 900, g.loader, renewAhead);
    expect(c.get('k', 900)).toBe(1);
    g.reject(new Error('blip'));
    await expect(renewing).rejects.toThrow('blip');
    expect(c.get('k', 950)).toBe(1); // a failed renewal leaves the old entry alone
    expect(await c.load('k', 950, async () => 3, renewAhead)).toEqual({ value: 3, source: 'loaded' });
    expect(c.get('k', 950)).toBe(3);
  });

  it('drops an expired entry on load and loads afresh', async () => {
    const c = new ExpiringCache<number>({ maxEntries: 10 });
    c.set('k', 1, 10, 0);
    expect(await c.load('k', 10, async () => 2, until(20))).toEqual({ value: 2, source: 'loaded' });
    expect(c.stats.expired).toBe(1);
  });

  it('forgets everything on clear and delete', () => {
    const c = new ExpiringCache<number>({ maxEntries: 10, maxBytes: 100, sizeOf: () => 10 });
    c.set('a', 1, 10, 0);
    c.set('b', 2, 10, 0);
    c.delete('a');
    expect(c.stats).toMatchObject({ entries: 1, bytes: 10 });
    c.clear();
    expect(c.stats).toMatchObject({ entries: 0, bytes: 0 });
    c.set('c', 3, 10, 0);
    expect(c.get('c', 0)).toBe(3);
  });
});
