import { describe, expect, it } from 'vitest';
import { MAX_CACHE_KEY_CHARS, TOKEN_TYPE, VERIFIED_PROOF_CACHE_MAX_BYTES } from '../../src/constants.ts';
import { MemoryRateLimiter } from '../../src/limits/rate-limiter.ts';
import { MemoryReplayStore } from '../../src/store/memory.ts';
import { storeUnavailable, toWire } from '../../src/errors.ts';
import { StoreUnavailableError } from '../../src/store/ports.ts';
import type { VerifiedWorkload } from '../../src/verify/contract.ts';
import { VERIFIED_PROOF_TTL_SEC, VerifiedProofCache } from '../../src/verify/verified-cache.ts';

describe('in-memory replay store', () => {
  it('accepts a key once until it expires, then again', async () => {
    let now = 1000;
    const s = new MemoryReplayStore(() => now);
    expect(await s.markUsed('k', 1100, 'p')).toBe('fresh');
    expect(await s.markUsed('k', 1100, 'p')).toBe('replayed');
    now = 1101;
    expect(await s.markUsed('k', 1200, 'p')).toBe('fresh');
  });

  it('issue 13 item 2: fails closed when full of unexpired keys, saying "full" (never "replayed"), and makes room as keys expire', async () => {
    let now = 1000;
    const s = new MemoryReplayStore(() => now, { maxEntries: 2 });
    expect(await s.markUsed('a', 1100, 'p')).toBe('fresh');
    expect(await s.markUsed('b', 1050, 'q')).toBe('fresh');
    const full = await s.markUsed('c', 1100, 'r').catch((e: unknown) => e);
    expect(full).toBeInstanceOf(StoreUnavailableError);
    expect(full).toMatchObject({ store: 'replay', condition: 'full', partition: undefined });
    expect((full as StoreUnavailableError).retryAfterSec).toBeGreaterThan(0);
    // A replay is still a replay when the store is full.
    expect(await s.markUsed('a', 1100, 'p')).toBe('replayed');
    now = 1060; // b expired
    expect(await s.markUsed('c', 1100, 'r')).toBe('fresh');
    expect(await s.markUsed('a', 1100, 'p')).toBe('replayed');
  });

  it('issue 8 item 11: one partition (n8n instance) full is refused as "full" while other partitions stay fresh', async () => {
    let now = 1000;
    const s = new MemoryReplayStore(() => now, { maxEntries: 100, maxPerPartition: 2 });
    expect(await s.markUsed('n8n:a:1', 1100, 'n8n:a')).toBe('fresh');
    expect(await s.markUsed('n8n:a:2', 1200, 'n8n:a')).toBe('fresh');
    const quota = await s.markUsed('n8n:a:3', 1100, 'n8n:a').catch((e: unknown) => e);
    expect(quota).toMatchObject({ store: 'replay', condition: 'full', partition: 'n8n:a' });
    expect(await s.markUsed('n8n:b:1', 1100, 'n8n:b')).toBe('fresh');
    expect(await s.markUsed('n8n:a:1', 1100, 'n8n:a')).toBe('replayed');
    now = 1100; // n8n:a:1 expired: its partition has room for one more
    expect(await s.markUsed('n8n:a:3', 1300, 'n8n:a')).toBe('fresh');
    await expect(s.markUsed('n8n:a:4', 1300, 'n8n:a')).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('issue 8 item 3: isUsed reads without writing', async () => {
    let now = 1000;
    const s = new MemoryReplayStore(() => now, { maxEntries: 1 });
    expect(await s.isUsed('k')).toBe(false);
    expect(await s.isUsed('k')).toBe(false);
    // Reading took no room: the one slot is still free.
    expect(await s.markUsed('k', 1100, 'p')).toBe('fresh');
    expect(await s.isUsed('k')).toBe(true);
    now = 1100;
    expect(await s.isUsed('k')).toBe(false);
  });

  it('issue 8 item 11: a full store answers without visiting every key, and each expired key is dropped once', async () => {
    let now = 1000;
    const s = new MemoryReplayStore(() => now, { maxEntries: 1000 });
    for (let i = 0; i < 1000; i += 1) expect(await s.markUsed(`k${i}`, 2000 + i, 'p')).toBe('fresh');
    // A refusal of a full store must not walk the 1000 keys: a few reads per call, no iteration.
    const watch = watchMaps();
    for (let i = 0; i < 50; i += 1) await s.markUsed(`new${i}`, 3000, 'p').catch(() => undefined);
    const seen = watch.stop();
    expect(seen.scans).toBe(0);
    expect(seen.gets).toBeLessThanOrEqual(50 * 5);
    now = 2010; // the first 11 keys expired
    expect(await s.markUsed('after', 3000, 'p')).toBe('fresh');
    expect(await s.markUsed('k10', 3000, 'p')).toBe('fresh');
    expect(await s.markUsed('k11', 3000, 'p')).toBe('replayed');
  });
});

/** Counts Map reads and Map iterations (a scan of the store walks a Map) between start and stop. */
function watchMaps(): { stop(): { gets: number; scans: number } } {
  const proto = Map.prototype as unknown as Record<PropertyKey, (...args: unknown[]) => unknown>;
  const names: PropertyKey[] = ['get', 'entries', 'keys', 'values', 'forEach', Symbol.iterator];
  const originals = new Map(names.map((name) => [name, proto[name]!]));
  const counts = { gets: 0, scans: 0 };
  for (const name of names) {
    const original = originals.get(name)!;
    proto[name] = function (this: unknown, ...args: unknown[]) {
      if (name === 'get') counts.gets += 1;
      else counts.scans += 1;
      return original.apply(this, args);
    };
  }
  return {
    stop() {
      for (const name of names) proto[name] = originals.get(name)!;
      return counts;
    },
  };
}

describe('in-memory rate limiter', () => {
  it('limits per key per minute and says how long to wait', async () => {
    let now = 6000; // start of a minute
    const r = new MemoryRateLimiter(2, () => now);
    expect(await r.hit('p')).toEqual({ allowed: true });
    expect(await r.hit('p')).toEqual({ allowed: true });
    expect(await r.hit('other')).toEqual({ allowed: true });
    now = 6010;
    expect(await r.hit('p')).toEqual({ allowed: false, retryAfterSec: 50 });
    now = 6060;
    expect(await r.hit('p')).toEqual({ allowed: true });
  });
});

describe('verified-proof cache', () => {
  const w = (expiresAt: number): VerifiedWorkload => ({
    platform: 'gcp',
    proofKind: 'gcp-id-token',
    issuer: 'i',
    principal: 'p',
    expiresAt,
    attributes: {},
  });

  it('remembers a proof until it expires, never longer than its TTL', () => {
    const c = new VerifiedProofCache();
    c.set('short', w(1100), 'h', 1000);
    c.set('long', w(1000 + 3600), 'h', 1000);
    expect(c.get('short', 1099)?.workload.expiresAt).toBe(1100);
    expect(c.get('short', 1100)).toBeUndefined();
    expect(c.get('long', 1000 + VERIFIED_PROOF_TTL_SEC - 1)).toBeDefined();
    expect(c.get('long', 1000 + VERIFIED_PROOF_TTL_SEC)).toBeUndefined();
  });

  it('does not store an already expired proof', () => {
    const c = new VerifiedProofCache();
    c.set('gone', w(999), 'h', 1000);
    expect(c.get('gone', 1000)).toBeUndefined();
  });

  it('issue 8 item 11: padded proofs cannot inflate the verified-proof cache past its byte bound (the key counts)', () => {
    const c = new VerifiedProofCache();
    const padding = 'p'.repeat(12 * 1024);
    const proof = (i: number) => `${TOKEN_TYPE.aws4Request}\n${padding}${String(i).padStart(8, '0')}`;
    const presented = 4000; // 4000 × 12 KiB = 48 MiB of keys
    for (let i = 0; i < presented; i++) c.set(proof(i), w(1000 + 900), 'h', 1000);
    let kept = 0;
    for (let i = 0; i < presented; i++) if (c.get(proof(i), 1000)) kept++;
    expect(kept).toBeGreaterThan(0);
    expect(kept * padding.length).toBeLessThanOrEqual(VERIFIED_PROOF_CACHE_MAX_BYTES);
    expect(c.get(proof(presented - 1), 1000)).toBeDefined(); // the newest stay, the oldest went
    expect(c.get(proof(0), 1000)).toBeUndefined();
    expect(c.stats.bytes).toBeLessThanOrEqual(VERIFIED_PROOF_CACHE_MAX_BYTES);
  });

  it('issue 8 item 11: never caches a proof whose key V8 would hash by length alone', () => {
    const c = new VerifiedProofCache();
    const key = `${TOKEN_TYPE.jwt}\n${'p'.repeat(MAX_CACHE_KEY_CHARS)}`;
    c.set(key, w(2000), 'h', 1000);
    expect(c.get(key, 1000)).toBeUndefined();
    expect(c.stats.entries).toBe(0);
  });

  it('issue 13 item 3: keeps at most its entry bound of small proofs', () => {
    const c = new VerifiedProofCache({ maxEntries: 100 });
    for (let i = 0; i < 1000; i++) c.set(`proof-${i}`, w(2000), 'h', 1000);
    expect(c.stats.entries).toBe(100);
    expect(c.get('proof-899', 1000)).toBeUndefined();
    expect(c.get('proof-900', 1000)).toBeDefined();
  });
});

describe('stores that cannot answer', () => {
  it('issue 13 item 2: each store condition maps to 503 temporarily_unavailable with its own reason and Retry-After, never proof_replayed', () => {
    const cases: [StoreUnavailableError, string][] = [
      [new StoreUnavailableError('replay', 'full', 'store full', 7), 'replay_store_unavailable'],
      [new StoreUnavailableError('replay', 'unreachable', 'Durable Object reset', 5), 'replay_store_unavailable'],
      [new StoreUnavailableError('replay', 'full', 'quota', 30, 'n8n:prod'), 'replay_quota_exceeded'],
      [
        new StoreUnavailableError('rate-limit', 'unreachable', 'Durable Object reset', 5),
        'rate_limit_store_unavailable',
      ],
    ];
    for (const [error, reason] of cases) {
      const mapped = storeUnavailable(error);
      expect(mapped.reason).toBe(reason);
      expect(mapped.retryAfterSec).toBe(error.retryAfterSec);
      expect(mapped.fields).toMatchObject({ store: error.store, condition: error.condition });
      expect(toWire(mapped.reason)).toMatchObject({ status: 503, error: 'temporarily_unavailable' });
    }
  });
});
