/**
 * Entra tokens with renew-ahead and single flight: concurrent identical requests share one
 * upstream call (docs/entra.md#caching). A thin wrapper over the bridge's one cache
 * (src/util/expiring-cache.ts) that adds the serve-stale rule: when renewal fails while the old
 * token still has STALE_TOKEN_MIN_REMAINING_SEC to live, the old token is served, since a blip at
 * Entra should not fail requests that a cached token can serve.
 */
import {
  CACHE_ENTRY_OVERHEAD_BYTES,
  ENTRA_TOKEN_CACHE_MAX_BYTES,
  ENTRA_TOKEN_CACHE_MAX_ENTRIES,
  STALE_TOKEN_MIN_REMAINING_SEC,
} from '../constants.ts';
import type { SharedCache } from '../store/ports.ts';
import { ExpiringCache, type CacheStats, type LoadOptions } from '../util/expiring-cache.ts';
import type { EntraToken } from './types.ts';

export interface CacheOutcome {
  token: EntraToken;
  fromCache: boolean;
}

export class TokenCache {
  readonly #cache: ExpiringCache<EntraToken>;
  readonly #clock: () => number;
  /** Cache each token for its whole life (the stale rule may need it), renewing it ahead. */
  readonly #untilExpiry: LoadOptions<EntraToken> & { renewIf: (t: EntraToken, now: number) => boolean };
  /**
   * Behind this in-process cache (L1), replicas may share one in Redis (L2, docs/redis.md): a token
   * another replica fetched is served without an Entra call; one in L1 without a Redis round trip.
   */
  readonly #shared: SharedCache<EntraToken> | undefined;
  /** Tokens that came from the shared cache, so the caller can tell a cached answer from an Entra call. */
  readonly #fromShared = new WeakSet<EntraToken>();

  constructor(opts: {
    renewBeforeSec: number;
    clock: () => number;
    maxEntries?: number;
    maxBytes?: number;
    shared?: SharedCache<EntraToken>;
  }) {
    this.#clock = opts.clock;
    this.#shared = opts.shared;
    this.#cache = new ExpiringCache({
      maxEntries: opts.maxEntries ?? ENTRA_TOKEN_CACHE_MAX_ENTRIES,
      maxBytes: opts.maxBytes ?? ENTRA_TOKEN_CACHE_MAX_BYTES,
      sizeOf: (key, t) =>
        CACHE_ENTRY_OVERHEAD_BYTES +
        key.length +
        t.accessToken.length +
        (t.scope?.length ?? 0) +
        (t.correlationId?.length ?? 0) +
        (t.sha256?.length ?? 0),
    });
    const renewBeforeSec = opts.renewBeforeSec;
    this.#untilExpiry = { expiresAt: (t) => t.expiresAt, renewIf: (t, now) => t.expiresAt - renewBeforeSec <= now };
  }

  /**
   * The cached token for `key`, or a fresh one from `fetchToken`. `servableUntil`, when given,
   * caps how long a fetched token may be served from the cache (unix seconds, computed once per
   * fetch); at or before now, the token is returned but not cached.
   */
  async get(
    key: string,
    fetchToken: () => Promise<EntraToken>,
    servableUntil?: (token: EntraToken) => number,
  ): Promise<CacheOutcome> {
    const opts = servableUntil
      ? { ...this.#untilExpiry, expiresAt: (t: EntraToken) => Math.min(t.expiresAt, servableUntil(t)) }
      : this.#untilExpiry;
    const shared = this.#shared;
    // The same expiry rules in both layers: an OBO token never outlives its user token in Redis either.
    const load = shared
      ? async () => {
          const { value, shared: fromShared } = await shared.load(key, fetchToken, opts);
          if (fromShared) this.#fromShared.add(value);
          return value;
        }
      : fetchToken;
    try {
      const { value, source } = await this.#cache.load(key, this.#clock(), load, opts);
      return { token: value, fromCache: source === 'cache' || this.#fromShared.has(value) };
    } catch (e) {
      const now = this.#clock();
      const stale = this.#cache.get(key, now);
      if (stale && stale.expiresAt - STALE_TOKEN_MIN_REMAINING_SEC > now) return { token: stale, fromCache: true };
      throw e;
    }
  }

  clear(): void {
    this.#cache.clear();
  }

  get size(): number {
    return this.#cache.size;
  }

  get stats(): CacheStats {
    return this.#cache.stats;
  }
}
