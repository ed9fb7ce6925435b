/**
 * BRIDGE_REDIS_URL and its companions (docs/redis.md, docs/operations.md configuration table).
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, isConfigured, loadConfig } from '../../src/config/config.ts';
import { generateSigningKeyJwk } from '../../src/issuer/keys.ts';
import { PLATFORMS } from '../../src/platforms.ts';
import { parseRedisUrl } from '../../src/store/redis/url.ts';
import { MINIMAL_POLICY as POLICY } from '../support/minimal-policy.ts';

const signingKey = await generateSigningKeyJwk();
const CACHE_KEY = Buffer.alloc(32, 1).toString('base64');
const env = (over: Record<string, string | undefined> = {}) => ({
  BRIDGE_ISSUER: 'https://bridge.example.com',
  BRIDGE_SIGNING_KEY: signingKey,
  BRIDGE_POLICY: POLICY,
  ...over,
});

function problems(e: Record<string, string | undefined>): string[] {
  try {
    loadConfig(e, { platforms: PLATFORMS });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('Redis configuration', () => {
  it('issue 9 item 1: without BRIDGE_REDIS_URL the stores stay in process', () => {
    expect(loadConfig(env(), { platforms: PLATFORMS }).redis).toBeUndefined();
  });

  it('issue 9 item 1: redis:// and rediss:// with ACL user and password, a prefix, and the shared cache key', () => {
    const c = loadConfig(
      env({
        BRIDGE_REDIS_URL: 'rediss://bridge:s%40cret@redis.internal:6380/2',
        BRIDGE_REDIS_KEY_PREFIX: 'prod-bridge:',
        BRIDGE_CACHE_ENCRYPTION_KEY: CACHE_KEY,
      }),
      { platforms: PLATFORMS },
    );
    expect(c.redis).toMatchObject({ url: 'rediss://bridge:s%40cret@redis.internal:6380/2', keyPrefix: 'prod-bridge:' });
    expect(c.redis?.sharedCacheSecret).toHaveLength(32);
    expect(parseRedisUrl(c.redis!.url)).toEqual({
      host: 'redis.internal',
      port: 6380,
      username: 'bridge',
      password: 's@cret',
      db: 2,
      tls: { servername: 'redis.internal' },
    });
    expect(parseRedisUrl('redis://127.0.0.1')).toEqual({ host: '127.0.0.1', port: 6379 });
    expect(parseRedisUrl('rediss://10.1.2.3:6380')).toEqual({ host: '10.1.2.3', port: 6380, tls: {} });
    expect(
      loadConfig(env({ BRIDGE_REDIS_URL: 'redis://10.0.0.5', BRIDGE_CACHE_ENCRYPTION_KEY: CACHE_KEY }), {
        platforms: PLATFORMS,
      }).redis?.keyPrefix,
    ).toBe('agent-id-bridge:');
  });

  it('issue 9 item 1: a URL of another scheme, with a query, or with a path that is not a db number is refused without echoing the password', () => {
    for (const url of [
      'http://redis:6379',
      'redis://:hunter2secret@redis:6379?tls=true',
      'redis://:hunter2secret@redis/x',
      'not a url',
    ]) {
      const p = problems(env({ BRIDGE_REDIS_URL: url, BRIDGE_SHARED_TOKEN_CACHE: 'off' }));
      expect(p).toHaveLength(1);
      expect(p[0]).toMatch(/^BRIDGE_REDIS_URL: /);
      expect(p[0]).not.toContain('hunter2secret');
    }
  });

  it('issue 9 item 2: the shared token cache is on by default with Redis and then needs its own key (32 bytes, base64), or an explicit off', () => {
    expect(problems(env({ BRIDGE_REDIS_URL: 'redis://r:6379' }))).toEqual([
      expect.stringMatching(
        /^BRIDGE_CACHE_ENCRYPTION_KEY: required .*openssl rand -base64 32.*BRIDGE_SHARED_TOKEN_CACHE=off/,
      ),
    ]);
    expect(
      problems(
        env({
          BRIDGE_REDIS_URL: 'redis://r:6379',
          BRIDGE_CACHE_ENCRYPTION_KEY: Buffer.alloc(16, 1).toString('base64'),
        }),
      ),
    ).toEqual([expect.stringMatching(/^BRIDGE_CACHE_ENCRYPTION_KEY: must be base64 of at least 32/)]);
    expect(
      problems(env({ BRIDGE_REDIS_URL: 'redis://r:6379', BRIDGE_CACHE_ENCRYPTION_KEY: 'not base64 !!' })),
    ).toHaveLength(1);
    const off = loadConfig(env({ BRIDGE_REDIS_URL: 'redis://r:6379', BRIDGE_SHARED_TOKEN_CACHE: 'off' }), {
      platforms: PLATFORMS,
    });
    expect(off.redis?.sharedCacheSecret).toBeUndefined();
    const urlSafe = Buffer.alloc(32, 250).toString('base64url');
    expect(
      loadConfig(env({ BRIDGE_REDIS_URL: 'redis://r:6379', BRIDGE_CACHE_ENCRYPTION_KEY: urlSafe }), {
        platforms: PLATFORMS,
      }).redis?.sharedCacheSecret,
    ).toEqual(new Uint8Array(32).fill(250));
  });

  it('issue 9 item 1: Redis companions without BRIDGE_REDIS_URL are refused, and any of them means "configured" (no sandbox)', () => {
    expect(problems(env({ BRIDGE_REDIS_KEY_PREFIX: 'x:' }))).toEqual([
      'BRIDGE_REDIS_KEY_PREFIX: set only with BRIDGE_REDIS_URL',
    ]);
    expect(
      problems(
        env({ BRIDGE_REDIS_URL: 'redis://r', BRIDGE_SHARED_TOKEN_CACHE: 'off', BRIDGE_REDIS_KEY_PREFIX: 'has space' }),
      ),
    ).toHaveLength(1);
    expect(isConfigured({ BRIDGE_REDIS_URL: 'redis://127.0.0.1:6379' })).toBe(true);
  });
});
