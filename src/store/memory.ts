import type { RateLimiter, ReplayStore } from './ports.ts';

/** In-process replay store: correct for one Node process or one isolate, not across replicas. */
export class MemoryReplayStore implements ReplayStore {
  readonly #used = new Map<string, number>();
  readonly #clock: () => number;
  readonly #maxEntries: number;

  constructor(clock: () => number = () => Math.floor(Date.now() / 1000), maxEntries = 100_000) {
    this.#clock = clock;
    this.#maxEntries = maxEntries;
  }

  async markUsed(key: string, expiresAt: number): Promise<boolean> {
    const now = this.#clock();
    const seen = this.#used.get(key);
    if (seen !== undefined && seen > now) return false;
    if (this.#used.size >= this.#maxEntries) this.#sweep(now);
    if (this.#used.size >= this.#maxEntries) {
      // Fail closed: refusing a fresh proof is better than forgetting a used one.
      return false;
    }
    this.#used.set(key, expiresAt);
    return true;
  }

  #sweep(now: number): void {
    for (const [k, exp] of this.#used) if (exp <= now) this.#used.delete(k);
  }
}

/** Fixed-window counter per key. Windows are one minute; memory is bounded by sweeping old windows. */
export class MemoryRateLimiter implements RateLimiter {
  readonly #limit: number;
  readonly #clock: () => number;
  readonly #windows = new Map<string, { window: number; count: number }>();

  constructor(limitPerMinute: number, clock: () => number = () => Math.floor(Date.now() / 1000)) {
    this.#limit = limitPerMinute;
    this.#clock = clock;
  }

  async hit(key: string): Promise<{ allowed: true } | { allowed: false; retryAfterSec: number }> {
    const now = this.#clock();
    const window = Math.floor(now / 60);
    let entry = this.#windows.get(key);
    if (!entry || entry.window !== window) {
      if (this.#windows.size > 50_000) for (const [k, e] of this.#windows) if (e.window !== window) this.#windows.delete(k);
      entry = { window, count: 0 };
      this.#windows.set(key, entry);
    }
    entry.count += 1;
    if (entry.count > this.#limit) return { allowed: false, retryAfterSec: (window + 1) * 60 - now };
    return { allowed: true };
  }
}
