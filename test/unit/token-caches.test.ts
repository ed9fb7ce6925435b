/** The bridge's Entra token cache and the client's agent-token cache, on the one cache primitive. */
import { describe, expect, it } from 'vitest';
import { AgentTokenCache, type AgentToken } from '../../src/client/exchange.ts';
import { CLIENT_TOKEN_CACHE_MAX_BYTES, CLIENT_TOKEN_CACHE_MAX_ENTRIES } from '../../src/constants.ts';
import { TokenCache } from '../../src/entra/token-cache.ts';
import type { EntraToken } from '../../src/entra/types.ts';

const agentToken = (accessToken: string, expiresAt: number): AgentToken => ({
  accessToken,
  expiresAt,
  scope: 's',
  agentId: 'a',
});

describe('client agent-token cache', () => {
  it('issue 13 item 3: is bounded in entries (it was unbounded)', async () => {
    const cache = new AgentTokenCache(300, () => 1000);
    let fetches = 0;
    const fetch = async () => agentToken(`at-${++fetches}`, 5000);
    for (let i = 0; i <= CLIENT_TOKEN_CACHE_MAX_ENTRIES; i++) await cache.get(`shape-${i}`, fetch);
    expect(cache.stats.entries).toBe(CLIENT_TOKEN_CACHE_MAX_ENTRIES);
    await cache.get('shape-0', fetch); // the oldest shape was evicted: fetched again
    expect(fetches).toBe(CLIENT_TOKEN_CACHE_MAX_ENTRIES + 2);
    await cache.get(`shape-${CLIENT_TOKEN_CACHE_MAX_ENTRIES}`, fetch);
    expect(fetches).toBe(CLIENT_TOKEN_CACHE_MAX_ENTRIES + 2);
  });

  it('issue 13 item 3: is bounded in bytes, the key (which holds an OBO user token) included', async () => {
    const cache = new AgentTokenCache(300, () => 1000);
    const userToken = 'u'.repeat(8 * 1024);
    for (let i = 0; i < 1000; i++)
      await cache.get(JSON.stringify([null, null, null, null, `${userToken}${i}`]), async () =>
        agentToken('t'.repeat(2048), 5000),
      );
    expect(cache.stats.entries).toBeLessThan(1000);
    expect(cache.stats.bytes).toBeLessThanOrEqual(CLIENT_TOKEN_CACHE_MAX_BYTES);
  });

  it('serves a token until renewBeforeSec before its expiry, and shares one exchange among concurrent callers', async () => {
    let now = 1000;
    const cache = new AgentTokenCache(300, () => now);
    let fetches = 0;
    const fetch = async () => {
      fetches++;
      await new Promise((r) => setTimeout(r, 1));
      return agentToken(`at-${fetches}`, now + 3600);
    };
    const first = await Promise.all(Array.from({ length: 20 }, () => cache.get('k', fetch)));
    expect(fetches).toBe(1);
    expect(new Set(first.map((t) => t.accessToken))).toEqual(new Set(['at-1']));
    now = 1000 + 3600 - 301;
    expect((await cache.get('k', fetch)).accessToken).toBe('at-1');
    now += 1;
    expect((await cache.get('k', fetch)).accessToken).toBe('at-2');
  });
});

describe('Entra token cache', () => {
  const token = (accessToken: string, expiresAt: number): EntraToken => ({ accessToken, expiresAt });

  it('issue 13 item 3: is bounded in bytes', async () => {
    const cache = new TokenCache({ renewBeforeSec: 300, clock: () => 1000, maxBytes: 64 * 1024 });
    for (let i = 0; i < 100; i++) await cache.get(`k${i}`, async () => token('t'.repeat(4096), 5000));
    expect(cache.stats.bytes).toBeLessThanOrEqual(64 * 1024);
    expect(cache.size).toBeLessThan(100);
  });

  it('serves the old token when renewal fails only while it has a minute left', async () => {
    let now = 1000;
    const cache = new TokenCache({ renewBeforeSec: 300, clock: () => now });
    const old = await cache.get('k', async () => token('old', 2000));
    const down = async (): Promise<EntraToken> => {
      throw new Error('Entra down');
    };
    now = 2000 - 61;
    expect(await cache.get('k', down)).toEqual({ token: old.token, fromCache: true });
    now = 2000 - 60;
    await expect(cache.get('k', down)).rejects.toThrow('Entra down');
  });

  it('caps how long a token is served with servableUntil, and does not cache one that is already past it', async () => {
    let now = 1000;
    const cache = new TokenCache({ renewBeforeSec: 300, clock: () => now });
    let fetches = 0;
    const fetch = async () => token(`t${++fetches}`, now + 3600);
    await cache.get('k', fetch, () => 1100);
    now = 1099;
    expect(await cache.get('k', fetch, () => 1100)).toMatchObject({ fromCache: true, token: { accessToken: 't1' } });
    now = 1100;
    expect(await cache.get('k', fetch, () => 1100)).toMatchObject({ fromCache: false, token: { accessToken: 't2' } });
    expect(await cache.get('k', fetch, () => 1100)).toMatchObject({ fromCache: false, token: { accessToken: 't3' } });
  });
});
