/**
 * Entra tokens shared by replicas through Redis (docs/redis.md, shared token cache):
 * - Values are encrypted with AES-256-GCM (NIST SP 800-38D), a random 96-bit IV per write, and the
 *   Redis key name as additional data, so a value copied under another key does not decrypt.
 * - Key names are HMAC-SHA-256 of the in-process cache key (tenant, agent, scopes, the user
 *   binding): nothing in Redis names a tenant, an agent or a user, and without the secret a name
 *   cannot be confirmed by guessing its inputs.
 * - Both keys come from BRIDGE_CACHE_ENCRYPTION_KEY by HKDF-SHA-256 (RFC 5869), one per purpose
 *   (./sealed.ts, shared with the verified-proof cache, which derives keys of its own).
 * - A distributed single flight: the replica that takes a short lock (SET NX PX) fetches; the
 *   others poll for the value and, after SHARED_CACHE_WAIT_MS, fetch themselves rather than fail.
 * - Any Redis failure makes `load` call `fetch` directly: the cache saves Entra calls, it never
 *   decides whether a request is served.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { SharedCache, SharedLoadOptions } from '../ports.ts';
import {
  SHARED_CACHE_LOCK_MS,
  SHARED_CACHE_POLL_FIRST_MS,
  SHARED_CACHE_POLL_MAX_MS,
  SHARED_CACHE_WAIT_MS,
} from './constants.ts';
import { SealedValues, type SealPurpose } from './sealed.ts';

const TOKEN_CACHE_PURPOSE: SealPurpose = {
  salt: 'agent-id-bridge shared token cache',
  valueInfo: 'aes-256-gcm value key v1',
  nameInfo: 'hmac-sha-256 key name key v1',
};

/** Deletes the lock only if it is still ours: a lock that expired and was taken again stays (compare-and-delete). */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

type WithRelease = Redis & { bridgeReleaseLock(lock: string, owner: string): Promise<number> };

export interface SharedTokenCacheStats {
  /** Values served from Redis. */
  hits: number;
  /** Fetches by this replica while holding the lock. */
  fetches: number;
  /** Fetches after waiting SHARED_CACHE_WAIT_MS for another replica. */
  waitTimeouts: number;
  /** Redis errors that made this replica fetch directly. */
  errors: number;
  /** Values that did not decrypt (another key, or tampered with): treated as absent. */
  undecryptable: number;
}

export interface SharedTokenCacheOptions {
  prefix: string;
  /** BRIDGE_CACHE_ENCRYPTION_KEY, decoded: at least 32 bytes. */
  secret: Uint8Array;
  clock: () => number;
  waitMs?: number;
  lockMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export class RedisSharedCache<V extends object> implements SharedCache<V> {
  readonly #redis: WithRelease;
  readonly #prefix: string;
  readonly #sealed: SealedValues;
  readonly #clock: () => number;
  readonly #waitMs: number;
  readonly #lockMs: number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly stats: SharedTokenCacheStats = { hits: 0, fetches: 0, waitTimeouts: 0, errors: 0, undecryptable: 0 };

  constructor(redis: Redis, opts: SharedTokenCacheOptions) {
    redis.defineCommand('bridgeReleaseLock', { numberOfKeys: 1, lua: RELEASE });
    this.#redis = redis as WithRelease;
    this.#prefix = opts.prefix;
    this.#sealed = new SealedValues(opts.secret, TOKEN_CACHE_PURPOSE);
    this.#clock = opts.clock;
    this.#waitMs = opts.waitMs ?? SHARED_CACHE_WAIT_MS;
    this.#lockMs = opts.lockMs ?? SHARED_CACHE_LOCK_MS;
    this.#sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async load(key: string, fetch: () => Promise<V>, opts: SharedLoadOptions<V>): Promise<{ value: V; shared: boolean }> {
    const name = `${this.#prefix}token:${this.#sealed.name(key)}`;
    const lock = `${name}:lock`;
    const deadline = Date.now() + this.#waitMs;
    let pause = SHARED_CACHE_POLL_FIRST_MS;
    try {
      for (;;) {
        const stored = await this.#read(name, opts);
        if (stored !== undefined) {
          this.stats.hits++;
          return { value: stored, shared: true };
        }
        const owner = randomUUID();
        if ((await this.#redis.set(lock, owner, 'PX', this.#lockMs, 'NX')) === 'OK') {
          // Another replica may have stored the value and released the lock between our read and
          // our SET NX: read again under the lock, or that replica's fetch would be repeated.
          const storedMeanwhile = await this.#read(name, opts);
          if (storedMeanwhile !== undefined) {
            await this.#redis.bridgeReleaseLock(lock, owner);
            this.stats.hits++;
            return { value: storedMeanwhile, shared: true };
          }
          this.stats.fetches++;
          return {
            value: await this.#fetchAndStore(name, fetch, opts, () => this.#redis.bridgeReleaseLock(lock, owner)),
            shared: false,
          };
        }
        if (Date.now() >= deadline) {
          this.stats.waitTimeouts++;
          break;
        }
        await this.#sleep(pause);
        pause = Math.min(pause * 2, SHARED_CACHE_POLL_MAX_MS);
      }
    } catch (e) {
      if (e instanceof FetchFailed) throw e.cause;
      this.stats.errors++;
    }
    try {
      return { value: await this.#fetchAndStore(name, fetch, opts), shared: false };
    } catch (e) {
      throw e instanceof FetchFailed ? e.cause : e;
    }
  }

  /** Fetch, store (best effort), release the lock if held. A fetch error is wrapped so that `load` rethrows it as is. */
  async #fetchAndStore(
    name: string,
    fetch: () => Promise<V>,
    opts: SharedLoadOptions<V>,
    release?: () => Promise<unknown>,
  ): Promise<V> {
    let value: V;
    try {
      value = await fetch();
    } catch (e) {
      await release?.().catch(() => {});
      throw new FetchFailed(e);
    }
    await this.#write(name, value, opts).catch(() => this.stats.errors++);
    await release?.().catch(() => {});
    return value;
  }

  async #read(name: string, opts: SharedLoadOptions<V>): Promise<V | undefined> {
    const sealed = await this.#redis.getBuffer(name);
    if (sealed === null) return undefined;
    const value = this.#open(name, sealed);
    if (value === undefined) return undefined;
    const now = this.#clock();
    return opts.expiresAt(value) > now && !opts.renewIf(value, now) ? value : undefined;
  }

  async #write(name: string, value: V, opts: SharedLoadOptions<V>): Promise<void> {
    const ttlMs = (opts.expiresAt(value) - this.#clock()) * 1000;
    if (!(ttlMs >= 1000)) return;
    await this.#redis.set(name, this.#seal(name, value), 'PX', Math.floor(ttlMs));
  }

  #seal(name: string, value: V): Buffer {
    return this.#sealed.seal(name, value);
  }

  #open(name: string, sealed: Buffer): V | undefined {
    const value = this.#sealed.open(name, sealed);
    if (value === undefined) this.stats.undecryptable++;
    return value as V | undefined;
  }
}

/** Marks an error of the caller's fetch, so the Redis fallback never calls Entra a second time. */
class FetchFailed {
  readonly cause: unknown;
  constructor(cause: unknown) {
    this.cause = cause;
  }
}
