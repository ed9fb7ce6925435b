import { describe, expect, it } from 'vitest';
import { MemoryRateLimiter, MemoryReplayStore } from '../../src/store/memory.ts';
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
});
