/**
 * Small state ports. The memory implementations live in ./memory.ts; distributed ones
 * (Durable Objects on Workers, Redis on Node replicas) implement the same interfaces.
 */
import type { VerifiedWorkload } from '../verify/contract.ts';

export type ReplayAnswer = 'fresh' | 'replayed';

export interface ReplayStore {
  /**
   * Atomically record `key` as used until `expiresAt` (unix seconds), counted against `partition`
   * (who vouched for the proof, e.g. one n8n instance's issuer), which has a quota of its own.
   * 'fresh' the first time, 'replayed' if the key is recorded and has not expired. Throws
   * StoreUnavailableError when the store or the partition is full, or the backend does not answer:
   * never 'replayed' for a key it has not seen.
   */
  markUsed(key: string, expiresAt: number, partition: string): Promise<ReplayAnswer>;
  /** Read-only: is `key` recorded and unexpired? Writes nothing (`/explain`). Throws StoreUnavailableError. */
  isUsed(key: string): Promise<boolean>;
}

export interface RateLimiter {
  /** Count one hit for `key`; `allowed: false` carries how long to wait. */
  hit(key: string): Promise<{ allowed: true } | { allowed: false; retryAfterSec: number }>;
}

/** How long a value loaded through a SharedCache may be served, and when it is due for renewal. */
export interface SharedLoadOptions<V> {
  /** Unix seconds until which the value may be served (at or before now: not stored). */
  expiresAt: (value: V) => number;
  /** A stored value for which this holds is treated as absent: it is fetched anew (renew-ahead). */
  renewIf: (value: V, now: number) => boolean;
}

/**
 * A cache shared by replicas in front of an upstream call (Entra tokens on Node with Redis),
 * behind each replica's in-process cache. It never fails a request for its own sake: when its
 * backend does not answer, `load` calls `fetch` itself. Errors of `fetch` pass through unchanged.
 */
export interface SharedCache<V> {
  /**
   * The value stored under `key`, or the outcome of `fetch`, which concurrent callers on all
   * replicas share where they can (a distributed single flight). `shared` says the value came
   * from the shared store rather than from this caller's `fetch`.
   */
  load(key: string, fetch: () => Promise<V>, opts: SharedLoadOptions<V>): Promise<{ value: V; shared: boolean }>;
}

/** A workload another replica verified, and until when it may be served (unix seconds). */
export interface RecalledProof {
  workload: VerifiedWorkload;
  until: number;
}

/**
 * Verified proofs shared by replicas (Redis on Node: src/store/redis/verified-proofs.ts), a second
 * tier behind each replica's in-process verified-proof cache, for proofs whose verification costs
 * an upstream call (docs/redis.md, the shared verified-proof cache). Never a reason to refuse: a
 * backend that does not answer, or a value that does not open, is a miss; a failed write is dropped.
 */
export interface SharedVerifiedProofs {
  /** The workload a replica stored under `key` for `platform`, if it may still be served at `now`. Never throws. */
  recall(key: string, platform: string, now: number): Promise<RecalledProof | undefined>;
  /** Store a verified workload until `until`, best effort. Never throws. */
  remember(key: string, workload: VerifiedWorkload, until: number, now: number): Promise<void>;
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
  /** Set when one partition's quota (not the whole store) is what is full. */
  readonly partition: string | undefined;

  constructor(
    store: string,
    condition: 'full' | 'unreachable',
    detail: string,
    retryAfterSec: number,
    partition?: string,
  ) {
    super(`${store} store ${condition}: ${detail}`);
    this.name = 'StoreUnavailableError';
    this.store = store;
    this.condition = condition;
    this.retryAfterSec = retryAfterSec;
    this.partition = partition;
  }
}
