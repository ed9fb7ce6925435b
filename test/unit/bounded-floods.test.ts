/**
 * Issue 12 item 2: every cache and map the bridge keeps is bounded, with its eviction or fail-closed
 * rule, under a flood of distinct keys: random principals, random jtis, random `kid`s and random
 * agents (docs/performance.md lists each bound). Counts, not timings: each flood is far larger
 * than the bound it meets, and the state after it is at or under the bound.
 */
import { describe, expect, it } from 'vitest';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE } from '../../src/constants.ts';
import { WindowCounter } from '../../src/limits/window-counter.ts';
import { MemoryReplayStore } from '../../src/store/memory.ts';
import { StoreUnavailableError } from '../../src/store/ports.ts';
import { VerifiedProofCache } from '../../src/verify/verified-cache.ts';
import type { VerifiedWorkload } from '../../src/verify/contract.ts';
import { startSandbox } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';
import { postToken } from '../support/http.ts';

const NOW = 1_800_000_000;

const workload = (principal: string): VerifiedWorkload => ({
  platform: 'gcp',
  proofKind: 'gcp-id-token',
  issuer: 'https://accounts.google.com',
  principal,
  expiresAt: NOW + 3600,
  attributes: { email: `${principal}@example.iam.gserviceaccount.com` },
});

describe('issue 12 item 2: bounded state under floods of distinct keys', () => {
  it('issue 12 item 2: random principals: the verified-proof cache keeps at most its entries and bytes, evicting the oldest', () => {
    const cache = new VerifiedProofCache({ maxEntries: 1000, maxBytes: 400_000 });
    for (let i = 0; i < 30_000; i++) {
      cache.set(`proof-${i}-${'p'.repeat(i % 700)}`, workload(String(100_000_000_000 + i)), 'f'.repeat(64), NOW);
      const { entries, bytes } = cache.stats;
      if (entries > 1000 || bytes > 400_000)
        throw new Error(`over its bound after ${i + 1} inserts: ${entries} entries, ${bytes} bytes`);
    }
    expect(cache.stats.evictions).toBeGreaterThan(28_000);
    // The newest proof is served, the oldest was evicted.
    expect(cache.get(`proof-29999-${'p'.repeat(29_999 % 700)}`, NOW)).toBeDefined();
    expect(cache.get('proof-0-', NOW)).toBeUndefined();
  });

  it('issue 12 item 2: random principals: a rate-limit window holds at most maxKeys; new keys are refused as full, counted keys go on', () => {
    const counter = new WindowCounter({ limit: 10, maxKeys: 500 });
    counter.hit('known', NOW);
    let full = 0;
    for (let i = 0; i < 50_000; i++) {
      const hit = counter.hit(`principal-${i}`, NOW);
      if (!hit.allowed && hit.full) full++;
    }
    expect(counter.size).toBe(500);
    expect(full).toBe(50_000 - 499);
    expect(counter.hit('known', NOW)).toMatchObject({ allowed: true, count: 2 });
    // The next window starts empty: nothing of the flood is kept.
    expect(counter.hit('late', NOW + 60)).toMatchObject({ allowed: true });
    expect(counter.size).toBe(1);
  });

  it('issue 12 item 2: random jtis: the replay store holds at most its quota per issuer and its total, then fails closed (full, never replayed), and frees keys as they expire', async () => {
    let now = NOW;
    const store = new MemoryReplayStore(() => now, { maxEntries: 2000, maxPerPartition: 800 });
    const answers = { fresh: 0, full: 0, replayed: 0 };
    for (let i = 0; i < 20_000; i++) {
      try {
        const a = await store.markUsed(`jti-${i}`, now + 300, `issuer-${i % 4}`);
        answers[a]++;
      } catch (e) {
        if (!(e instanceof StoreUnavailableError) || e.condition !== 'full') throw e;
        answers.full++;
      }
    }
    // Four issuers of quota 800 against a total of 2000: the total is what stops the flood.
    expect(answers).toEqual({ fresh: 2000, full: 18_000, replayed: 0 });
    now += 301;
    expect(await store.markUsed('jti-after-expiry', now + 300, 'issuer-0')).toBe('fresh');
  });
});

describe('issue 12 item 2: floods through the sandbox', () => {
  it('issue 12 item 2: random kids cost no JWKS fetch beyond the cooldown, and random agents reach no cache and no Entra call', async () => {
    const sb = await startSandbox({ port: 0 });
    try {
      const form = (token: string, extra: Record<string, string> = {}) => ({
        grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
        subject_token: token,
        subject_token_type: TOKEN_TYPE.idToken,
        resource: SANDBOX.graph,
        ...extra,
      });
      const good = await sb.gcp.emulator.mintIdToken({ audience: sb.url, format: 'full' });
      expect((await postToken(sb.url, form(good))).status).toBe(200);
      const jwksHits = sb.gcp.emulator.jwksHits;
      const entraCalls = sb.entra.calls.length;
      const verified = sb.deps.verifiedProofs.stats.entries;

      const statuses = new Set<number>();
      for (let i = 0; i < 150; i++) {
        const token = await sb.gcp.emulator.mintIdToken({
          audience: sb.url,
          format: 'full',
          header: { kid: crypto.randomUUID().replaceAll('-', '') },
        });
        statuses.add((await postToken(sb.url, form(token))).status);
      }
      // Refused as the caller's doing; jose refetches the key set for an unknown kid at most once per cooldown.
      expect([...statuses].every((s) => s >= 400 && s < 500)).toBe(true);
      expect(sb.gcp.emulator.jwksHits - jwksHits).toBeLessThanOrEqual(1);

      for (let i = 0; i < 150; i++)
        statuses.add((await postToken(sb.url, form(good, { audience: crypto.randomUUID() }))).status);
      expect([...statuses].every((s) => s >= 400 && s < 500)).toBe(true);
      // Refused by the policy before any agent-token cache or Entra is asked; the one proof stays one entry.
      expect(sb.entra.calls.length).toBe(entraCalls);
      expect(sb.deps.verifiedProofs.stats.entries).toBe(verified);
    } finally {
      await sb.close();
    }
  });
});
