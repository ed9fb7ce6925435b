/**
 * Successful STS verifications, keyed by the hash of the request the bridge would forward, kept
 * until that request would expire at STS anyway; concurrent identical proofs share one STS call.
 * Failures are never cached. Memory is bounded: expired entries are swept, then the oldest go.
 */

interface Entry<T> {
  value: T;
  /** Unix seconds. */
  expiresAt: number;
}

export class VerificationCache<T> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #inflight = new Map<string, Promise<{ ok: true; value: T; expiresAt: number } | { ok: false; result: unknown }>>();
  readonly #maxEntries: number;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  /**
   * The cached value for `key`, or the outcome of `load` (shared with concurrent callers).
   * `load` returns `{ok: true, value, expiresAt}` to cache, or `{ok: false, result}` to pass through.
   */
  async get<F>(
    key: string,
    now: number,
    load: () => Promise<{ ok: true; value: T; expiresAt: number } | { ok: false; result: F }>,
  ): Promise<{ hit: boolean; ok: true; value: T } | { hit: false; ok: false; result: F }> {
    const entry = this.#entries.get(key);
    if (entry && entry.expiresAt > now) return { hit: true, ok: true, value: entry.value };
    if (entry) this.#entries.delete(key);

    let pending = this.#inflight.get(key);
    const shared = pending !== undefined;
    if (!pending) {
      pending = load().finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    const outcome = await pending;
    if (!outcome.ok) return { hit: false, ok: false, result: outcome.result as F };
    if (!shared) this.#store(key, { value: outcome.value, expiresAt: outcome.expiresAt }, now);
    return { hit: shared, ok: true, value: outcome.value };
  }

  get size(): number {
    return this.#entries.size;
  }

  #store(key: string, entry: Entry<T>, now: number): void {
    if (this.#entries.size >= this.#maxEntries) {
      for (const [k, e] of this.#entries) if (e.expiresAt <= now) this.#entries.delete(k);
    }
    while (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
    this.#entries.set(key, entry);
  }
}
