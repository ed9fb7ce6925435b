/**
 * The core's store ports (../ports.ts) over Durable Objects: each key goes to the object of its
 * shard. A Durable Object that cannot be reached fails closed: the request is refused with 503
 * (audit reason verifier_unavailable, detail naming the store), never let through unchecked.
 */
import { BridgeError } from '../../errors.ts';
import type { RateLimiter, ReplayStore } from '../ports.ts';
import { RATE_LIMIT_SHARDS, REPLAY_SHARDS, STATE_UNAVAILABLE_RETRY_AFTER_SEC } from './constants.ts';
import type { HitResult, RateLimitCounter } from './rate-limit-counter.ts';
import type { ReplayGuard } from './replay-guard.ts';
import { shardOf } from './shard.ts';

function unavailable(store: string, e: unknown): BridgeError {
  // RPC errors carry no caller data (keys are jti/principal, never tokens); keep the first line only.
  const why = e instanceof Error ? `${e.name}: ${e.message.split('\n')[0]}` : String(e);
  return new BridgeError('verifier_unavailable', `${store} unavailable (${why})`, { retryAfterSec: STATE_UNAVAILABLE_RETRY_AFTER_SEC });
}

export class DurableReplayStore implements ReplayStore {
  readonly #ns: DurableObjectNamespace<ReplayGuard>;
  readonly #clock: () => number;

  constructor(ns: DurableObjectNamespace<ReplayGuard>, clock: () => number) {
    this.#ns = ns;
    this.#clock = clock;
  }

  async markUsed(key: string, expiresAt: number): Promise<boolean> {
    const shard = await shardOf(key, REPLAY_SHARDS);
    try {
      return await this.#ns.getByName(`replay-${shard}`).markUsed(key, expiresAt, this.#clock());
    } catch (e) {
      throw unavailable('replay store', e);
    }
  }
}

export class DurableRateLimiter implements RateLimiter {
  readonly #ns: DurableObjectNamespace<RateLimitCounter>;
  readonly #limit: number;
  readonly #clock: () => number;

  constructor(ns: DurableObjectNamespace<RateLimitCounter>, limitPerMinute: number, clock: () => number) {
    this.#ns = ns;
    this.#limit = limitPerMinute;
    this.#clock = clock;
  }

  async hit(key: string): Promise<HitResult> {
    const shard = await shardOf(key, RATE_LIMIT_SHARDS);
    try {
      return await this.#ns.getByName(`rate-${shard}`).hit(key, this.#limit, this.#clock());
    } catch (e) {
      throw unavailable('rate-limit store', e);
    }
  }
}
