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
