/**
 * A token cache with renew-ahead and single flight: concurrent identical requests share one
 * upstream call (entra-agent-id.md §5.4). When renewal fails while the old token is still valid,
 * the old token is served: a blip at Entra should not fail requests that a cached token can serve.
 */
import type { EntraToken } from './types.ts';

export interface CacheOutcome {
  token: EntraToken;
  fromCache: boolean;
}

export class TokenCache {
  readonly #entries = new Map<string, EntraToken>();
  readonly #inflight = new Map<string, Promise<EntraToken>>();
  readonly #renewBeforeSec: number;
  readonly #clock: () => number;
  readonly #maxEntries: number;

  constructor(opts: { renewBeforeSec: number; clock: () => number; maxEntries?: number }) {
    this.#renewBeforeSec = opts.renewBeforeSec;
    this.#clock = opts.clock;
    this.#maxEntries = opts.maxEntries ?? 10_000;
  }

  async get(key: string, fetchToken: () => Promise<EntraToken>): Promise<CacheOutcome> {
    const now = this.#clock();
    const cached = this.#entries.get(key);
    if (cached && cached.expiresAt - this.#renewBeforeSec > now) return { token: cached, fromCache: true };

    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = fetchToken().finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    try {
      const token = await pending;
      this.#store(key, token);
      return { token, fromCache: false };
    } catch (e) {
      // Still valid for at least a minute: serve it and let the next request try renewal again.
      if (cached && cached.expiresAt - 60 > this.#clock()) return { token: cached, fromCache: true };
      throw e;
    }
  }

  #store(key: string, token: EntraToken): void {
    if (this.#entries.size >= this.#maxEntries && !this.#entries.has(key)) {
      const now = this.#clock();
      for (const [k, t] of this.#entries) if (t.expiresAt <= now) this.#entries.delete(k);
      // Still full: drop the oldest insertion (Map iteration order).
      if (this.#entries.size >= this.#maxEntries) {
        const oldest = this.#entries.keys().next().value;
        if (oldest !== undefined) this.#entries.delete(oldest);
      }
    }
    this.#entries.set(key, token);
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}
