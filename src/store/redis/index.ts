/**
 * The Node stores on one Redis (BRIDGE_REDIS_URL): replay, rate limit and, unless turned off,
 * the shared Entra token cache. Node only: Workers use Durable Objects (src/store/durable/).
 */
import type { RedisSettings } from '../../config/config.ts';
import type { EntraToken } from '../../entra/types.ts';
import { MemoryRateLimiter } from '../../limits/rate-limiter.ts';
import type { RateLimiter, ReplayStore } from '../ports.ts';
import { connectRedis } from './connection.ts';
import { RedisRateLimiter } from './rate-limiter.ts';
import { RedisReplayStore } from './replay.ts';
import { RedisSharedCache } from './token-cache.ts';

export interface RedisStores {
  replay: ReplayStore;
  rateLimiter: RateLimiter;
  sharedTokens: RedisSharedCache<EntraToken> | undefined;
  /** True while Redis is connected (for /readyz). */
  ready(): boolean;
  /** Resolves when connected or after a short wait; says which. */
  waitReady(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

export function createRedisStores(
  settings: RedisSettings,
  opts: { clock: () => number; rateLimitPerMinute: number; rateLimitMaxKeys: number; replayQuotaPerIssuer: number; log: (message: string) => void },
): RedisStores {
  const connection = connectRedis(settings.url, opts.log);
  const prefix = settings.keyPrefix;
  const { client } = connection;
  return {
    replay: new RedisReplayStore(client, { prefix, clock: opts.clock, quotaPerPartition: opts.replayQuotaPerIssuer }),
    rateLimiter: new RedisRateLimiter(client, {
      prefix,
      limitPerMinute: opts.rateLimitPerMinute,
      clock: opts.clock,
      fallback: new MemoryRateLimiter(opts.rateLimitPerMinute, opts.clock, opts.rateLimitMaxKeys),
    }),
    sharedTokens: settings.sharedCacheSecret ? new RedisSharedCache<EntraToken>(client, { prefix, secret: settings.sharedCacheSecret, clock: opts.clock }) : undefined,
    ready: connection.ready,
    waitReady: connection.waitReady,
    close: connection.close,
  };
}
