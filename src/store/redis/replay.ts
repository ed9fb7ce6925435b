/**
 * The replay store on Redis: shared by every replica, so a single-use proof (n8n jti) is spent
 * exactly once across all of them. One Lua script per proof checks the key, trims and counts the
 * issuer's quota and records the key with its expiry, atomically (Redis runs a script without
 * interleaving: https://redis.io/docs/latest/develop/interact/programmability/eval-intro/).
 * Keys are SHA-256 hashes of the proof id and of the partition: nothing a caller sent is stored.
 * Redis not answering is StoreUnavailableError('unreachable'): the proof is refused with 503, never
 * accepted unchecked and never called a replay.
 */
import type { Redis } from 'ioredis';
import { REPLAY_FULL_RETRY_AFTER_SEC } from '../../constants.ts';
import { sha256Hex } from '../../util/hash.ts';
import { StoreUnavailableError, type ReplayAnswer, type ReplayStore } from '../ports.ts';
import { REDIS_UNAVAILABLE_RETRY_AFTER_SEC } from './constants.ts';
import { isOutOfMemory } from './connection.ts';

/**
 * KEYS[1]: the spent proof's key; KEYS[2]: its partition's sorted set (member: the proof key hash,
 * score: when it expires, Redis time). ARGV: seconds to keep the key, the member, the quota.
 * Returns 1 fresh, 0 replayed, -1 the partition's quota is full. The two keys may live in different
 * hash slots: one Redis primary (with replicas or Sentinel), not Redis Cluster (docs/redis.md).
 * The `#!lua` line (Redis 7) makes Redis refuse the whole script while it is out of memory, before
 * it runs, rather than let it write past maxmemory:
 * https://redis.io/docs/latest/develop/interact/programmability/lua-api/ (script flags).
 */
const MARK_USED = `#!lua
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local now = tonumber(redis.call('TIME')[1])
local ttl = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return -1 end
redis.call('SET', KEYS[1], '1', 'EX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[2])
if redis.call('TTL', KEYS[2]) < ttl then redis.call('EXPIRE', KEYS[2], ttl) end
return 1
`;

type WithMarkUsed = Redis & {
  bridgeMarkUsed(spent: string, quota: string, ttl: number, member: string, max: number): Promise<number>;
};

export class RedisReplayStore implements ReplayStore {
  readonly #redis: WithMarkUsed;
  readonly #prefix: string;
  readonly #clock: () => number;
  readonly #quota: number;
  /** Checks Redis could not answer (unreachable, timed out, out of memory), for metrics. */
  errors = 0;

  constructor(redis: Redis, opts: { prefix: string; clock: () => number; quotaPerPartition: number }) {
    redis.defineCommand('bridgeMarkUsed', { numberOfKeys: 2, lua: MARK_USED });
    this.#redis = redis as WithMarkUsed;
    this.#prefix = opts.prefix;
    this.#clock = opts.clock;
    this.#quota = opts.quotaPerPartition;
  }

  async markUsed(key: string, expiresAt: number, partition: string): Promise<ReplayAnswer> {
    const { spent, quota, member } = this.#keys(key, partition);
    // Relative seconds: Redis counts them on its own clock, so replicas' clocks need not agree with it.
    const ttl = Math.max(1, Math.ceil(expiresAt - this.#clock()));
    let answer: number;
    try {
      answer = await this.#redis.bridgeMarkUsed(spent, quota, ttl, member, this.#quota);
    } catch (e) {
      this.errors++;
      throw unavailable(e);
    }
    if (answer === 1) return 'fresh';
    if (answer === 0) return 'replayed';
    throw new StoreUnavailableError(
      'replay',
      'full',
      `partition ${partition} holds ${this.#quota} unexpired keys, its quota`,
      REPLAY_FULL_RETRY_AFTER_SEC,
      partition,
    );
  }

  async isUsed(key: string): Promise<boolean> {
    try {
      return (await this.#redis.exists(this.#keys(key, '').spent)) === 1;
    } catch (e) {
      this.errors++;
      throw unavailable(e);
    }
  }

  #keys(key: string, partition: string): { spent: string; quota: string; member: string } {
    const member = sha256Hex(key);
    return {
      spent: `${this.#prefix}replay:${member}`,
      quota: `${this.#prefix}replay-quota:${sha256Hex(partition)}`,
      member,
    };
  }
}

function unavailable(e: unknown): StoreUnavailableError {
  if (isOutOfMemory(e))
    return new StoreUnavailableError(
      'replay',
      'full',
      'redis is out of memory (maxmemory)',
      REPLAY_FULL_RETRY_AFTER_SEC,
    );
  return new StoreUnavailableError(
    'replay',
    'unreachable',
    `redis: ${(e as Error).message}`,
    REDIS_UNAVAILABLE_RETRY_AFTER_SEC,
  );
}
