/**
 * The Redis stores against a real redis-server (TEST_REDIS_URL; docs/redis.md): replay, rate
 * limit and shared token cache, each through connections of their own as separate replicas have,
 * and what each does when Redis does not answer.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntraToken } from '../../src/entra/types.ts';
import { TokenCache } from '../../src/entra/token-cache.ts';
import { createRedisStores, type RedisStores } from '../../src/store/redis/index.ts';
import { StoreUnavailableError, type SharedLoadOptions } from '../../src/store/ports.ts';
import { RedisSharedCache } from '../../src/store/redis/token-cache.ts';
import {
  inspector,
  ownRedis,
  ownRedisSkipReason,
  sharedRedisSkipReason,
  TEST_REDIS_URL,
  uniquePrefix,
  type OwnRedis,
} from '../support/redis.ts';

const skip = sharedRedisSkipReason();
const ownSkip = ownRedisSkipReason();
const now = () => Math.floor(Date.now() / 1000);
const SECRET = new Uint8Array(32).fill(7);
const untilExpiry: SharedLoadOptions<EntraToken> = {
  expiresAt: (t) => t.expiresAt,
  renewIf: (t, at) => t.expiresAt - 300 <= at,
};

const opened: RedisStores[] = [];
async function replica(
  prefix: string,
  over: { url?: string; secret?: Uint8Array | undefined; limit?: number; quota?: number; clock?: () => number } = {},
): Promise<RedisStores> {
  const stores = createRedisStores(
    { url: over.url ?? TEST_REDIS_URL!, keyPrefix: prefix, sharedCacheSecret: 'secret' in over ? over.secret : SECRET },
    {
      clock: over.clock ?? now,
      rateLimitPerMinute: over.limit ?? 600,
      rateLimitMaxKeys: 1000,
      replayQuotaPerIssuer: over.quota ?? 10_000,
      log: () => {},
    },
  );
  opened.push(stores);
  await stores.waitReady(over.url ? 300 : undefined);
  return stores;
}

async function closedPortUrl(): Promise<string> {
  const port = await new Promise<number>((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(p));
    });
  });
  return `redis://127.0.0.1:${port}`;
}

async function keysUnder(prefix: string): Promise<string[]> {
  const client = inspector(TEST_REDIS_URL!);
  try {
    return await client.keys(`${prefix}*`);
  } finally {
    client.disconnect();
  }
}

afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
});

describe.skipIf(skip !== undefined)('Redis replay store', () => {
  it('issue 9 item 1: twenty replicas racing to spend one proof id: exactly one is told fresh', async () => {
    const prefix = uniquePrefix('replay-race');
    const replicas = await Promise.all(Array.from({ length: 4 }, () => replica(prefix)));
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        replicas[i % 4]!.replay.markUsed('n8n:iss:jti-race', now() + 120, 'n8n:iss'),
      ),
    );
    expect(answers.filter((a) => a === 'fresh')).toHaveLength(1);
    expect(answers.filter((a) => a === 'replayed')).toHaveLength(19);
    expect(await replicas[3]!.replay.isUsed('n8n:iss:jti-race')).toBe(true);
    expect(await replicas[3]!.replay.isUsed('n8n:iss:jti-other')).toBe(false);
  });

  it('issue 9 item 1: keys are hashes (no proof id or issuer in Redis) and expire with the proof', async () => {
    const prefix = uniquePrefix('replay-keys');
    const r = await replica(prefix);
    expect(await r.replay.markUsed('n8n:n8n:instance-one:jti-visible-1234', now() + 100, 'n8n:instance-one')).toBe(
      'fresh',
    );
    const keys = await keysUnder(prefix);
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) expect(k).not.toMatch(/jti-visible|instance-one/);
    const client = inspector(TEST_REDIS_URL!);
    try {
      for (const k of keys) {
        const ttl = await client.ttl(k);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(100);
      }
    } finally {
      client.disconnect();
    }
  });

  it('issue 9 item 1: /explain reads (isUsed) write nothing', async () => {
    const prefix = uniquePrefix('replay-read');
    const r = await replica(prefix);
    expect(await r.replay.isUsed('n8n:iss:never-spent')).toBe(false);
    expect(await keysUnder(prefix)).toEqual([]);
  });

  it('issue 9 item 1: one partition over its quota is refused as full with its partition named, across replicas; another partition is not', async () => {
    const prefix = uniquePrefix('replay-quota');
    const [a, b] = [await replica(prefix, { quota: 2 }), await replica(prefix, { quota: 2 })];
    expect(await a.replay.markUsed('k1', now() + 60, 'n8n:busy')).toBe('fresh');
    expect(await b.replay.markUsed('k2', now() + 60, 'n8n:busy')).toBe('fresh');
    const full = await a.replay.markUsed('k3', now() + 60, 'n8n:busy').catch((e: unknown) => e);
    expect(full).toBeInstanceOf(StoreUnavailableError);
    expect(full).toMatchObject({ store: 'replay', condition: 'full', partition: 'n8n:busy' });
    expect(await b.replay.markUsed('k4', now() + 60, 'n8n:quiet')).toBe('fresh');
    // A replay of a spent key is still a replay, not "full".
    expect(await b.replay.markUsed('k1', now() + 60, 'n8n:busy')).toBe('replayed');
  });
});

describe.skipIf(ownSkip !== undefined)('a Redis out of memory (maxmemory, noeviction)', () => {
  let redis: OwnRedis;
  beforeAll(async () => {
    redis = await ownRedis(['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction']);
  });
  afterAll(() => redis?.stop());

  it('issue 9 item 1: a replay check Redis cannot write is refused as full (503), never fresh, and reads still answer', async () => {
    const r = await replica(uniquePrefix('oom'), { url: redis.url });
    expect(await r.replay.markUsed('spent-before', now() + 60, 'n8n:iss')).toBe('fresh');
    const filler = inspector(redis.url);
    try {
      const chunk = 'x'.repeat(1024);
      let full = false;
      for (let i = 0; i < 10_000 && !full; i++)
        full = await filler.set(`filler:${i}`, chunk).then(
          () => false,
          (e: Error) => e.message.startsWith('OOM'),
        );
      expect(full).toBe(true);
      // Right at the limit, freed request buffers can let the next write in: lower the limit well below the data.
      await filler.config('SET', 'maxmemory', '1mb');
      const refused = await r.replay.markUsed('spent-after', now() + 60, 'n8n:iss').catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(StoreUnavailableError);
      expect(refused).toMatchObject({ store: 'replay', condition: 'full' });
      expect(await r.replay.isUsed('spent-before')).toBe(true);
      expect(await r.replay.isUsed('spent-after')).toBe(false);
    } finally {
      filler.disconnect();
    }
  });
});

describe('Redis stores when Redis does not answer', () => {
  let down: RedisStores;
  beforeAll(async () => {
    down = await replica(uniquePrefix('down'), { url: await closedPortUrl(), limit: 3 });
  });

  it('issue 9 item 1: the replay store fails closed: StoreUnavailableError (unreachable, retryable), never fresh and never replayed', async () => {
    expect(down.ready()).toBe(false);
    const spent = await down.replay.markUsed('n8n:iss:jti', now() + 60, 'n8n:iss').catch((e: unknown) => e);
    expect(spent).toBeInstanceOf(StoreUnavailableError);
    expect(spent).toMatchObject({ store: 'replay', condition: 'unreachable' });
    expect((spent as StoreUnavailableError).retryAfterSec).toBeGreaterThan(0);
    await expect(down.replay.isUsed('n8n:iss:jti')).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(down.stats()).toMatchObject({ connected: false, replayErrors: 2 });
  });

  it('issue 9 item 1: the rate limiter counts locally (same limit per replica) instead of refusing everyone', async () => {
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await down.rateLimiter.hit('principal-a'));
    expect(answers.filter((a) => a.allowed)).toHaveLength(3);
    expect(answers.slice(3).every((a) => !a.allowed)).toBe(true);
    expect((await down.rateLimiter.hit('principal-b')).allowed).toBe(true);
    expect(down.stats().rateLimitFallbacks).toBe(6);
  });

  it('issue 9 item 2: the shared token cache calls Entra itself rather than failing', async () => {
    let calls = 0;
    const token = { accessToken: 'at', expiresAt: now() + 3600 };
    const got = await down.sharedTokens!.load('app|t|a|s', async () => (calls++, token), untilExpiry);
    expect(got).toEqual({ value: token, shared: false });
    expect(calls).toBe(1);
  });
});

describe.skipIf(skip !== undefined)('Redis rate limiter', () => {
  it('issue 9 item 1: K per minute holds across replicas together', async () => {
    const prefix = uniquePrefix('rate');
    // One pinned minute, so that the window cannot turn during the loop.
    const minute = now();
    const replicas = [
      await replica(prefix, { limit: 4, clock: () => minute }),
      await replica(prefix, { limit: 4, clock: () => minute }),
    ];
    const answers = [];
    for (let i = 0; i < 8; i++) answers.push(await replicas[i % 2]!.rateLimiter.hit('aws:arn:aws:iam::123:role/x'));
    expect(answers.map((a) => a.allowed)).toEqual([true, true, true, true, false, false, false, false]);
    for (const k of await keysUnder(prefix)) expect(k).not.toContain('arn:aws');
  });
});

describe.skipIf(skip !== undefined)('Redis shared token cache', () => {
  it('issue 9 item 2: tokens are stored encrypted under HMAC key names; another replica reads them without calling Entra', async () => {
    const prefix = uniquePrefix('tokens');
    const [a, b] = [await replica(prefix), await replica(prefix)];
    const key = 'app|tenant-visible|agent-visible|https://graph.microsoft.com/.default';
    const token: EntraToken = {
      accessToken: 'eyJ.secret-access-token-body.sig',
      expiresAt: now() + 3600,
      sha256: 'abc',
    };
    let calls = 0;
    expect(await a.sharedTokens!.load(key, async () => (calls++, token), untilExpiry)).toEqual({
      value: token,
      shared: false,
    });
    expect(await b.sharedTokens!.load(key, async () => (calls++, token), untilExpiry)).toEqual({
      value: token,
      shared: true,
    });
    expect(calls).toBe(1);
    const client = inspector(TEST_REDIS_URL!);
    try {
      for (const k of await keysUnder(prefix)) {
        expect(k).not.toMatch(/tenant-visible|agent-visible|graph/);
        const raw = await client.getBuffer(k);
        expect(raw?.includes('secret-access-token-body')).toBe(false);
        expect(raw?.includes(Buffer.from('secret-access-token-body').toString('base64'))).toBe(false);
      }
    } finally {
      client.disconnect();
    }
  });

  it('issue 9 item 2: a replica with another encryption key cannot read the value and fetches its own', async () => {
    const prefix = uniquePrefix('tokens-key');
    const a = await replica(prefix);
    const other = await replica(prefix, { secret: new Uint8Array(32).fill(9) });
    const key = 'app|t|a|s';
    await a.sharedTokens!.load(key, async () => ({ accessToken: 'one', expiresAt: now() + 3600 }), untilExpiry);
    const got = await other.sharedTokens!.load(
      key,
      async () => ({ accessToken: 'two', expiresAt: now() + 3600 }),
      untilExpiry,
    );
    expect(got).toMatchObject({ value: { accessToken: 'two' }, shared: false });
  });

  it('issue 9 item 2: ten replicas asking for one cold token at once make one fetch', async () => {
    const prefix = uniquePrefix('tokens-flight');
    const replicas = await Promise.all(Array.from({ length: 10 }, () => replica(prefix)));
    let calls = 0;
    const fetchSlowly = async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 50));
      return { accessToken: 'shared', expiresAt: now() + 3600 };
    };
    const got = await Promise.all(replicas.map((r) => r.sharedTokens!.load('app|t|a|cold', fetchSlowly, untilExpiry)));
    expect(calls).toBe(1);
    expect(got.every((g) => g.value.accessToken === 'shared')).toBe(true);
  });

  it('issue 9 item 2: a waiter whose lock holder never delivers calls Entra itself after the wait, rather than failing', async () => {
    const prefix = uniquePrefix('tokens-wait');
    const holder = await replica(prefix);
    const client = inspector(TEST_REDIS_URL!);
    const waiter = new RedisSharedCache<EntraToken>(client, { prefix, secret: SECRET, clock: now, waitMs: 100 });
    try {
      let holderStarted = false;
      // The holder takes the lock and hangs in its fetch, as a replica that died mid-call would.
      void holder.sharedTokens!.load(
        'app|t|a|stuck',
        () => ((holderStarted = true), new Promise<EntraToken>(() => {})),
        untilExpiry,
      );
      for (let i = 0; i < 100 && !holderStarted; i++) await new Promise((r) => setTimeout(r, 10));
      expect(holderStarted).toBe(true);
      let calls = 0;
      const got = await waiter.load(
        'app|t|a|stuck',
        async () => (calls++, { accessToken: 'mine', expiresAt: now() + 3600 }),
        untilExpiry,
      );
      expect(got).toEqual({ value: { accessToken: 'mine', expiresAt: expect.any(Number) }, shared: false });
      expect(calls).toBe(1);
      expect(waiter.stats.waitTimeouts).toBe(1);
    } finally {
      client.disconnect();
    }
  });

  it('issue 9 item 2: an OBO token is kept in Redis no longer than its user token (nothing at all past it)', async () => {
    const prefix = uniquePrefix('tokens-obo');
    const r = await replica(prefix);
    const cache = new TokenCache({ renewBeforeSec: 300, clock: now, shared: r.sharedTokens! });
    const token = { accessToken: 'obo', expiresAt: now() + 3600 };
    await cache.get(
      'obo|t|a|s|userhash-short',
      async () => token,
      () => now() + 120,
    );
    await cache.get(
      'obo|t|a|s|userhash-gone',
      async () => token,
      () => now() - 1,
    );
    const client = inspector(TEST_REDIS_URL!);
    try {
      const tokenKeys = (await keysUnder(prefix)).filter((k) => !k.endsWith(':lock'));
      expect(tokenKeys).toHaveLength(1);
      const pttl = await client.pttl(tokenKeys[0]!);
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(120_000);
    } finally {
      client.disconnect();
    }
  });

  it('issue 9 item 2: the in-process cache stays in front: a warm token costs no Redis round trip', async () => {
    const r = await replica(uniquePrefix('tokens-l1'));
    let redisLoads = 0;
    const counted = {
      load: (...args: Parameters<RedisSharedCache<EntraToken>['load']>) => (
        redisLoads++,
        r.sharedTokens!.load(...args)
      ),
    };
    const cache = new TokenCache({ renewBeforeSec: 300, clock: now, shared: counted });
    const fetchToken = async () => ({ accessToken: 'warm', expiresAt: now() + 3600 });
    expect((await cache.get('app|t|a|warm', fetchToken)).fromCache).toBe(false);
    for (let i = 0; i < 5; i++) expect((await cache.get('app|t|a|warm', fetchToken)).fromCache).toBe(true);
    expect(redisLoads).toBe(1);
    // A second replica's first request is served from Redis, and says so (audit: cache hit).
    const other = new TokenCache({ renewBeforeSec: 300, clock: now, shared: r.sharedTokens! });
    expect(
      await other.get('app|t|a|warm', async () => ({ accessToken: 'never', expiresAt: now() + 3600 })),
    ).toMatchObject({ token: { accessToken: 'warm' }, fromCache: true });
  });
});
