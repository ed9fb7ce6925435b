/**
 * The per-principal rate limit on Redis: one counter per principal and one-minute window, shared
 * by every replica (INCR and EXPIRE in one Lua script, one round trip), the same fixed-window
 * semantics as the in-process limiter (src/limits/rate-limiter.ts). Keys are SHA-256 hashes.
 *
 * When Redis does not answer, each replica counts on its own (the in-process limiter, same limit)
 * until it is back, rather than refusing every request: the limit is there to spread Entra load
 * fairly, not to keep a security property, and proofs that need no shared state must keep working
 * through a Redis outage. During the outage one principal can get up to limit × replicas per
 * minute (docs/redis.md, "when Redis is down").
 */
import type { Redis } from 'ioredis';
import { RATE_LIMIT_WINDOW_SEC } from '../../constants.ts';
import { sha256Hex } from '../../util/hash.ts';
import type { RateLimiter } from '../ports.ts';

/** KEYS[1]: the window's counter; ARGV[1]: seconds it lives. Returns the count after this hit. */
const HIT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
`;

type WithHit = Redis & { bridgeRateHit(counter: string, ttl: number): Promise<number> };

export class RedisRateLimiter implements RateLimiter {
  readonly #redis: WithHit;
  readonly #prefix: string;
  readonly #limit: number;
  readonly #clock: () => number;
  readonly #fallback: RateLimiter;
  readonly #onFallback: () => void;

  constructor(
    redis: Redis,
    opts: {
      prefix: string;
      limitPerMinute: number;
      clock: () => number;
      fallback: RateLimiter;
      onFallback?: () => void;
    },
  ) {
    redis.defineCommand('bridgeRateHit', { numberOfKeys: 1, lua: HIT });
    this.#redis = redis as WithHit;
    this.#prefix = opts.prefix;
    this.#limit = opts.limitPerMinute;
    this.#clock = opts.clock;
    this.#fallback = opts.fallback;
    this.#onFallback = opts.onFallback ?? (() => {});
  }

  async hit(key: string): Promise<{ allowed: true } | { allowed: false; retryAfterSec: number }> {
    const now = this.#clock();
    const window = Math.floor(now / RATE_LIMIT_WINDOW_SEC);
    const retryAfterSec = (window + 1) * RATE_LIMIT_WINDOW_SEC - now;
    let count: number;
    try {
      // The window number is part of the key: a new window is a new counter, the old one expires.
      count = await this.#redis.bridgeRateHit(
        `${this.#prefix}rate:${window}:${sha256Hex(key)}`,
        RATE_LIMIT_WINDOW_SEC + 1,
      );
    } catch {
      this.#onFallback();
      return this.#fallback.hit(key);
    }
    return count <= this.#limit ? { allowed: true } : { allowed: false, retryAfterSec };
  }
}
