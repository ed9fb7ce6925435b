/**
 * Successful STS verifications, keyed by the hash of the request the bridge would forward, kept
 * until that request would expire at STS anyway; concurrent identical proofs share one STS call
 * (a caller that shared it reports a hit: STS was asked once). Failures are never cached.
 * Bounded and evicted by the bridge's one cache rule (src/util/expiring-cache.ts): expired
 * entries first, then the oldest. No byte bound: keys are 64-character hashes and values hold an
 * STS answer's Arn, Account and UserId (at most a few KiB).
 */
import { ExpiringCache, type CacheStats, type LoadOptions } from '../../src/util/expiring-cache.ts';

type Outcome<T, F> = { ok: true; value: T; expiresAt: number } | { ok: false; result: F };

const LOAD_OPTIONS: LoadOptions<Outcome<unknown, unknown>> = {
  cacheIf: (o) => o.ok,
  expiresAt: (o) => (o.ok ? o.expiresAt : -Infinity),
};

export class VerificationCache<T> {
  readonly #cache: ExpiringCache<Outcome<T, unknown>>;

  constructor(maxEntries: number) {
    this.#cache = new ExpiringCache({ maxEntries });
  }

  /**
   * The cached value for `key`, or the outcome of `load` (shared with concurrent callers).
   * `load` returns `{ok: true, value, expiresAt}` to cache, or `{ok: false, result}` to pass through.
   */
  async get<F>(
    key: string,
    now: number,
    load: () => Promise<Outcome<T, F>>,
  ): Promise<{ hit: boolean; ok: true; value: T } | { hit: false; ok: false; result: F }> {
    const { value: outcome, source } = await this.#cache.load(key, now, load, LOAD_OPTIONS);
    if (!outcome.ok) return { hit: false, ok: false, result: outcome.result as F };
    return { hit: source !== 'loaded', ok: true, value: outcome.value };
  }

  get size(): number {
    return this.#cache.size;
  }

  get stats(): CacheStats {
    return this.#cache.stats;
  }
}
