import { describe, expect, it } from 'vitest';
import { MAX_CACHE_KEY_CHARS, TOKEN_TYPE, VERIFIED_PROOF_CACHE_MAX_BYTES } from '../../src/constants.ts';
import { MemoryRateLimiter } from '../../src/limits/rate-limiter.ts';
import { MemoryReplayStore } from '../../src/store/memory.ts';
import type { VerifiedWorkload } from '../../src/verify/contract.ts';
import { VERIFIED_PROOF_TTL_SEC, VerifiedProofCache } from '../../src/verify/verified-cache.ts';

describe('in-memory replay store', () => {
  it('accepts a key once until it expires, then again', async () => {
    let now = 1000;
    const s = new MemoryReplayStore(() => now);
    expect(await s.markUsed('k', 1100)).toBe(true);
    expect(await s.markUsed('k', 1100)).toBe(false);
    now = 1101;
    expect(await s.markUsed('k', 1200)).toBe(true);
  });

  it('fails closed when full of unexpired keys, and makes room by sweeping expired ones', async () => {
    let now = 1000;
    const s = new MemoryReplayStore(() => now, 2);
    expect(await s.markUsed('a', 1100)).toBe(true);
    expect(await s.markUsed('b', 1050)).toBe(true);
    expect(await s.markUsed('c', 1100)).toBe(false);
    now = 1060; // b expired
    expect(await s.markUsed('c', 1100)).toBe(true);
    expect(await s.markUsed('a', 1100)).toBe(false);
  });
});

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
  const w = (expiresAt: number): VerifiedWorkload => ({ platform: 'gcp', proofKind: 'gcp-id-token', issuer: 'i', principal: 'p', expiresAt, attributes: {} });

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
