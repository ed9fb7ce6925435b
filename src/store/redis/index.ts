/**
 * The Node stores on one Redis (BRIDGE_REDIS_URL): replay, rate limit and, unless turned off,
 * the shared Entra token cache and the shared verified-proof cache (both under
 * BRIDGE_CACHE_ENCRYPTION_KEY). Node only: Workers use Durable Objects (src/store/durable/).
 */
import type { RedisSettings } from '../../config/config.ts';
import type { EntraToken } from '../../entra/types.ts';
import { MemoryRateLimiter } from '../../limits/rate-limiter.ts';
import type { RateLimiter, ReplayStore } from '../ports.ts';
import { connectRedis } from './connection.ts';
import { RedisRateLimiter } from './rate-limiter.ts';
import { RedisReplayStore } from './replay.ts';
import { RedisSharedCache, type SharedTokenCacheStats } from './token-cache.ts';
import { RedisVerifiedProofs, type SharedProofCacheStats } from './verified-proofs.ts';

export interface RedisStores {
  replay: ReplayStore;
  rateLimiter: RateLimiter;
  sharedTokens: RedisSharedCache<EntraToken> | undefined;
  /** Proofs verified by an upstream call, shared with the other replicas (with the shared token cache). */
  sharedProofs: RedisVerifiedProofs | undefined;
  /** True while Redis is connected (for /readyz). */
  ready(): boolean;
  /** Counters for metrics: Redis failures per store, and the shared cache's hits and fetches. */
  stats(): RedisStoreStats;
  /** Resolves when connected or after a short wait; says which. */
  waitReady(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface RedisStoreStats {
  connected: boolean;
  /** Replay checks refused because Redis did not answer (503 replay_store_unavailable). */
  replayErrors: number;
  /** Rate-limit hits counted locally because Redis did not answer. */
  rateLimitFallbacks: number;
  sharedCache: SharedTokenCacheStats | undefined;
  sharedProofs: SharedProofCacheStats | undefined;
}

export function createRedisStores(
  settings: RedisSettings,
  opts: {
    clock: () => number;
    rateLimitPerMinute: number;
    rateLimitMaxKeys: number;
    replayQuotaPerIssuer: number;
    log: (message: string) => void;
    /** Every connection error, for the metrics (bridge_store_errors_total{store="redis"}). */
    onConnectionError?: () => void;
  },
): RedisStores {
  const connection = connectRedis(settings.url, opts.log, opts.onConnectionError);
  const prefix = settings.keyPrefix;
  const { client } = connection;
  const replay = new RedisReplayStore(client, {
    prefix,
    clock: opts.clock,
    quotaPerPartition: opts.replayQuotaPerIssuer,
  });
  let rateLimitFallbacks = 0;
  const rateLimiter = new RedisRateLimiter(client, {
    prefix,
    limitPerMinute: opts.rateLimitPerMinute,
    clock: opts.clock,
    fallback: new MemoryRateLimiter(opts.rateLimitPerMinute, opts.clock, opts.rateLimitMaxKeys),
    onFallback: () => rateLimitFallbacks++,
  });
  const sharedTokens = settings.sharedCacheSecret
    ? new RedisSharedCache<EntraToken>(client, { prefix, secret: settings.sharedCacheSecret, clock: opts.clock })
    : undefined;
  const sharedProofs = settings.sharedCacheSecret
    ? new RedisVerifiedProofs(client, { prefix, secret: settings.sharedCacheSecret })
    : undefined;
  return {
    replay,
    rateLimiter,
    sharedTokens,
    sharedProofs,
    ready: connection.ready,
    stats: () => ({
      connected: connection.ready(),
      replayErrors: replay.errors,
      rateLimitFallbacks,
      sharedCache: sharedTokens ? { ...sharedTokens.stats } : undefined,
      sharedProofs: sharedProofs ? { ...sharedProofs.stats } : undefined,
    }),
    waitReady: connection.waitReady,
    close: connection.close,
  };
}
