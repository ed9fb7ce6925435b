/**
 * The one bounded, expiring, single-flight cache of the bridge (the table of its instances, with
 * their TTLs and bounds, is in docs/architecture.md).
 *
 * - Expiry: every entry carries an absolute expiry (unix seconds, the caller's clock); an entry is
 *   served only while `now < expiresAt`, and an expired entry found by a read is dropped.
 * - Bounds: at most `maxEntries` entries and, when `maxBytes` is set, at most `maxBytes` as
 *   measured by the caller's `sizeOf(key, value)` (count the key: it is often the largest part).
 *   A value larger than `maxBytes` on its own is not cached.
 * - One eviction rule, when an insert needs room: expired entries go first, then the oldest
 *   inserted. Reads never reorder entries (a hit costs one Map lookup and a comparison).
 *   The oldest entry is the head of a linked list (O(1)); expired entries elsewhere are found by a
 *   sweep that runs only when room is needed and at most once per `size / 2` inserts, so every
 *   operation is O(1) amortized, also under a flood of distinct keys. (A JavaScript Map's
 *   `keys().next()` is not: it skips every deleted slot since the table was last compacted.)
 * - Keys longer than MAX_CACHE_KEY_CHARS are never cached and get no single flight: V8 hashes them
 *   by length alone, so they would all collide (see src/constants.ts).
 * - Single flight: concurrent `load` calls for one key share one loader call. A rejected loader
 *   is never cached: every caller waiting on it gets the rejection, and the next call loads anew.
 * - Counters (`stats`) for metrics: hits, misses, loader calls, callers that shared a flight,
 *   entries evicted for room, entries dropped as expired, sweeps.
 */
import { MAX_CACHE_KEY_CHARS } from '../constants.ts';

export interface ExpiringCacheOptions<V> {
  /** Hard cap on the number of entries. */
  maxEntries: number;
  /** Hard cap on the summed `sizeOf` of all entries; needs `sizeOf`. */
  maxBytes?: number;
  /** Estimated bytes an entry keeps alive: key and value. Called once per insert. */
  sizeOf?: (key: string, value: V) => number;
}

export interface LoadOptions<V> {
  /** Unix seconds until which a loaded value may be served; at or before `now`, it is not cached. */
  expiresAt: (value: V) => number;
  /** Cache the loaded value only if this holds (e.g. a successful verification). Default: always. */
  cacheIf?: (value: V) => boolean;
  /** A cached value for which this holds is due for renewal: `load` reloads it (renew-ahead). */
  renewIf?: (value: V, now: number) => boolean;
}

/** Where a `load` answer came from: the cache, another caller's loader call, or this caller's. */
export type LoadSource = 'cache' | 'shared' | 'loaded';

export interface Loaded<V> {
  value: V;
  source: LoadSource;
}

export interface CacheStats {
  entries: number;
  bytes: number;
  inflight: number;
  hits: number;
  misses: number;
  loads: number;
  shared: number;
  evictions: number;
  expired: number;
  /** Sweeps for expired entries (each visits every entry once). */
  sweeps: number;
}

interface Entry<V> {
  readonly key: string;
  readonly value: V;
  readonly expiresAt: number;
  readonly bytes: number;
  /** Neighbours in insertion order: `older` towards the head (next to go), `newer` towards the tail. */
  older: Entry<V> | undefined;
  newer: Entry<V> | undefined;
}

export class ExpiringCache<V> {
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #sizeOf: ((key: string, value: V) => number) | undefined;
  readonly #entries = new Map<string, Entry<V>>();
  readonly #inflight = new Map<string, Promise<V>>();
  #oldest: Entry<V> | undefined;
  #newest: Entry<V> | undefined;
  #bytes = 0;
  #insertsSinceSweep = 0;
  #hits = 0;
  #misses = 0;
  #loads = 0;
  #shared = 0;
  #evictions = 0;
  #expired = 0;
  #sweeps = 0;

  constructor(opts: ExpiringCacheOptions<V>) {
    if (!(Number.isInteger(opts.maxEntries) && opts.maxEntries > 0))
      throw new RangeError('maxEntries must be a positive integer');
    if (opts.maxBytes !== undefined && !(opts.maxBytes > 0 && opts.sizeOf))
      throw new RangeError('maxBytes must be positive and comes with sizeOf');
    this.#maxEntries = opts.maxEntries;
    this.#maxBytes = opts.maxBytes ?? Infinity;
    this.#sizeOf = opts.sizeOf;
  }

  /** The value cached for `key` if it has not expired at `now`. */
  get(key: string, now: number): V | undefined {
    const e = key.length > MAX_CACHE_KEY_CHARS ? undefined : this.#entries.get(key);
    if (e === undefined) {
      this.#misses++;
      return undefined;
    }
    if (e.expiresAt <= now) {
      this.#unlink(e);
      this.#expired++;
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    return e.value;
  }

  /**
   * Cache `value` until `expiresAt`, replacing any entry for `key` (the new one counts as newest).
   * Returns whether it was stored: not if already expired, larger than `maxBytes` or its key too
   * long (any previous entry for `key` is removed either way, since `value` supersedes it).
   */
  set(key: string, value: V, expiresAt: number, now: number): boolean {
    if (key.length > MAX_CACHE_KEY_CHARS) return false;
    const previous = this.#entries.get(key);
    if (previous !== undefined) this.#unlink(previous);
    if (!(expiresAt > now)) return false;
    const bytes = this.#sizeOf ? this.#sizeOf(key, value) : 0;
    if (bytes > this.#maxBytes) return false;
    this.#makeRoom(bytes, now);
    const e: Entry<V> = { key, value, expiresAt, bytes, older: this.#newest, newer: undefined };
    if (this.#newest) this.#newest.newer = e;
    else this.#oldest = e;
    this.#newest = e;
    this.#entries.set(key, e);
    this.#bytes += bytes;
    this.#insertsSinceSweep++;
    return true;
  }

  delete(key: string): void {
    const e = this.#entries.get(key);
    if (e !== undefined) this.#unlink(e);
  }

  clear(): void {
    this.#entries.clear();
    this.#oldest = this.#newest = undefined;
    this.#bytes = 0;
  }

  /**
   * The cached value, or the outcome of `loader` shared with every concurrent caller for `key`.
   * A value is cached when it resolves, if `cacheIf` holds and `expiresAt` is after `now`.
   */
  load(key: string, now: number, loader: () => Promise<V>, opts: LoadOptions<V>): Promise<Loaded<V>> {
    if (key.length > MAX_CACHE_KEY_CHARS) {
      this.#misses++;
      this.#loads++;
      return Promise.resolve()
        .then(loader)
        .then((value) => ({ value, source: 'loaded' }));
    }
    const e = this.#entries.get(key);
    if (e !== undefined) {
      if (e.expiresAt <= now) {
        this.#unlink(e);
        this.#expired++;
      } else if (!opts.renewIf?.(e.value, now)) {
        this.#hits++;
        return Promise.resolve({ value: e.value, source: 'cache' });
      }
    }
    this.#misses++;
    const pending = this.#inflight.get(key);
    if (pending !== undefined) {
      this.#shared++;
      return pending.then((value) => ({ value, source: 'shared' }));
    }
    this.#loads++;
    let started: Promise<V>;
    try {
      started = loader();
    } catch (err) {
      started = Promise.reject(err);
    }
    const flight = started.then(
      (value) => {
        this.#inflight.delete(key);
        if (opts.cacheIf === undefined || opts.cacheIf(value)) this.set(key, value, opts.expiresAt(value), now);
        return value;
      },
      (err: unknown) => {
        this.#inflight.delete(key);
        throw err;
      },
    );
    this.#inflight.set(key, flight);
    return flight.then((value) => ({ value, source: 'loaded' }));
  }

  get size(): number {
    return this.#entries.size;
  }

  get stats(): CacheStats {
    return {
      entries: this.#entries.size,
      bytes: this.#bytes,
      inflight: this.#inflight.size,
      hits: this.#hits,
      misses: this.#misses,
      loads: this.#loads,
      shared: this.#shared,
      evictions: this.#evictions,
      expired: this.#expired,
      sweeps: this.#sweeps,
    };
  }

  #full(incomingBytes: number): boolean {
    return this.#entries.size >= this.#maxEntries || this.#bytes + incomingBytes > this.#maxBytes;
  }

  /** Expired entries first (by an amortized sweep), then the oldest, until `incomingBytes` fits. */
  #makeRoom(incomingBytes: number, now: number): void {
    if (!this.#full(incomingBytes)) return;
    if (this.#insertsSinceSweep * 2 >= this.#entries.size) {
      this.#insertsSinceSweep = 0;
      this.#sweeps++;
      for (let e = this.#oldest; e !== undefined;) {
        const newer = e.newer;
        if (e.expiresAt <= now) {
          this.#unlink(e);
          this.#expired++;
        }
        e = newer;
      }
    }
    while (this.#oldest !== undefined && this.#full(incomingBytes)) {
      const oldest = this.#oldest;
      this.#unlink(oldest);
      if (oldest.expiresAt <= now) this.#expired++;
      else this.#evictions++;
    }
  }

  #unlink(e: Entry<V>): void {
    this.#entries.delete(e.key);
    this.#bytes -= e.bytes;
    if (e.older) e.older.newer = e.newer;
    else this.#oldest = e.newer;
    if (e.newer) e.newer.older = e.older;
    else this.#newest = e.older;
    e.older = e.newer = undefined;
  }
}
