/**
 * The in-process per-principal rate limiter (Node, one process): fixed one-minute windows, the same
 * semantics as the Durable Object counter used on Workers (src/store/durable/rate-limit-counter.ts),
 * O(1) per request and bounded in keys (./window-counter.ts).
 */
import { DEFAULT_RATE_LIMIT_MAX_KEYS } from '../constants.ts';
import { StoreUnavailableError, type RateLimiter } from '../store/ports.ts';
import { WindowCounter } from './window-counter.ts';

export class MemoryRateLimiter implements RateLimiter {
  readonly #counter: WindowCounter;
  readonly #clock: () => number;

  constructor(
    limitPerMinute: number,
    clock: () => number = () => Math.floor(Date.now() / 1000),
    maxKeys = DEFAULT_RATE_LIMIT_MAX_KEYS,
  ) {
    this.#counter = new WindowCounter({ limit: limitPerMinute, maxKeys });
    this.#clock = clock;
  }

  /** Throws StoreUnavailableError('rate-limit', 'full') for a new key while the window's table is full. */
  async hit(key: string): Promise<{ allowed: true } | { allowed: false; retryAfterSec: number }> {
    const hit = this.#counter.hit(key, this.#clock());
    if (hit.allowed) return { allowed: true };
    if (hit.full)
      throw new StoreUnavailableError(
        'rate-limit',
        'full',
        'no room for a new principal in this window',
        hit.retryAfterSec,
      );
    return { allowed: false, retryAfterSec: hit.retryAfterSec };
  }
}
