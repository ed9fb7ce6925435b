/**
 * The core's store ports (../ports.ts) over Durable Objects: each key goes to the object of its
 * shard. A Durable Object that cannot be reached fails closed: the store throws
 * StoreUnavailableError and the core answers 503 with the store's own reason, never lets the
 * request through unchecked and never calls it a replay.
 */
import { REPLAY_FULL_RETRY_AFTER_SEC, REPLAY_QUOTA_PER_ISSUER } from '../../constants.ts';
import { StoreUnavailableError, type RateLimiter, type ReplayAnswer, type ReplayStore } from '../ports.ts';
import { RATE_LIMIT_SHARDS, REPLAY_SHARDS, STATE_UNAVAILABLE_RETRY_AFTER_SEC } from './constants.ts';
import type { HitResult, RateLimitCounter } from './rate-limit-counter.ts';
import type { ReplayGuard } from './replay-guard.ts';
import { shardOf } from './shard.ts';

function unreachable(store: 'replay' | 'rate-limit', e: unknown): StoreUnavailableError {
  // RPC errors carry no caller data (keys are jti/principal, never tokens); keep the first line only.
  const why = e instanceof Error ? `${e.name}: ${e.message.split('\n')[0]}` : String(e);
  return new StoreUnavailableError(
    store,
    'unreachable',
    `Durable Object did not answer (${why})`,
    STATE_UNAVAILABLE_RETRY_AFTER_SEC,
  );
}

export class DurableReplayStore implements ReplayStore {
  readonly #ns: DurableObjectNamespace<ReplayGuard>;
  readonly #clock: () => number;
  readonly #perShardQuota: number;

  /**
   * `maxPerPartition` is one issuer's quota across the store; keys spread evenly over the shards, so
   * each shard holds at most its share of it (rounded up).
   */
  constructor(ns: DurableObjectNamespace<ReplayGuard>, clock: () => number, maxPerPartition = REPLAY_QUOTA_PER_ISSUER) {
    this.#ns = ns;
    this.#clock = clock;
    this.#perShardQuota = Math.max(1, Math.ceil(maxPerPartition / REPLAY_SHARDS));
  }

  async markUsed(key: string, expiresAt: number, partition: string): Promise<ReplayAnswer> {
    const shard = await shardOf(key, REPLAY_SHARDS);
    let answer;
    try {
      answer = await this.#ns
        .getByName(`replay-${shard}`)
        .markUsed(key, expiresAt, this.#clock(), partition, this.#perShardQuota);
    } catch (e) {
      throw unreachable('replay', e);
    }
    if (answer === 'full') {
      throw new StoreUnavailableError(
        'replay',
        'full',
        `partition ${partition} holds its quota in shard ${shard}`,
        REPLAY_FULL_RETRY_AFTER_SEC,
        partition,
      );
    }
    return answer;
  }

  async isUsed(key: string): Promise<boolean> {
    const shard = await shardOf(key, REPLAY_SHARDS);
    try {
      return await this.#ns.getByName(`replay-${shard}`).isUsed(key, this.#clock());
    } catch (e) {
      throw unreachable('replay', e);
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
      throw unreachable('rate-limit', e);
    }
  }
}
