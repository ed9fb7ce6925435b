/**
 * Small state ports. The memory implementations live in ./memory.ts; distributed ones
 * (Durable Objects on Workers, Redis on Node replicas) implement the same interfaces.
 */

export interface ReplayStore {
  /**
   * Atomically record `key` as used until `expiresAt` (unix seconds).
   * Returns true the first time, false if the key was already recorded and has not expired.
   */
  markUsed(key: string, expiresAt: number): Promise<boolean>;
}

export interface RateLimiter {
  /** Count one hit for `key`; `allowed: false` carries how long to wait. */
  hit(key: string): Promise<{ allowed: true } | { allowed: false; retryAfterSec: number }>;
}

/**
 * Thrown by any store that cannot answer (full, unreachable, timed out). The core maps it to 503
 * with the store's own reason code on every runtime; a store never decides the wire answer and
 * never reports "unavailable" as "replayed" (fail closed, but say why).
 */
export class StoreUnavailableError extends Error {
  /** Which store: 'replay', 'rate-limit', 'verified-proof-cache', 'token-cache'. */
  readonly store: string;
  /** 'full' when a bound was reached, 'unreachable' when the backend did not answer. */
  readonly condition: 'full' | 'unreachable';
  readonly retryAfterSec: number;

  constructor(store: string, condition: 'full' | 'unreachable', detail: string, retryAfterSec: number) {
    super(`${store} store ${condition}: ${detail}`);
    this.name = 'StoreUnavailableError';
    this.store = store;
    this.condition = condition;
    this.retryAfterSec = retryAfterSec;
  }
}
