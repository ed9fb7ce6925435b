/**
 * The shared verified-proof cache (docs/redis.md, the shared verified-proof cache): a proof one
 * replica verified by an upstream call (AWS kind 1: a signed GetCallerIdentity forwarded to STS) is
 * recalled by another replica instead of being verified again.
 * - Key names are an HMAC of the lookup key (platform, bridge audience and the proof's canonical
 *   form): nothing of the proof is in Redis, and a name cannot be confirmed without the secret.
 * - Values are `{workload, until}` sealed with AES-256-GCM under keys of this purpose (./sealed.ts),
 *   the name as additional data. A value that does not open, or opens to anything but an unexpired
 *   workload of the expected platform that is not single-use, is a miss: verified again, never trusted.
 * - `until` travels inside the sealed value and is checked on every read: Redis's own TTL, which
 *   anyone who can write to Redis could extend, is only housekeeping.
 * - Redis not answering is a miss (recall) or a dropped write (remember): this cache saves upstream
 *   calls, it never decides whether a request is served.
 */
import type { Redis } from 'ioredis';
import type { VerifiedWorkload } from '../../verify/contract.ts';
import type { CacheStats } from '../../util/expiring-cache.ts';
import type { RecalledProof, SharedVerifiedProofs } from '../ports.ts';
import { SealedValues } from './sealed.ts';

export interface SharedProofCacheStats {
  hits: number;
  misses: number;
  /** Workloads written for other replicas. */
  stored: number;
  /** Redis errors (reads counted as misses, writes dropped). */
  errors: number;
  /** Values that did not open (another key, or changed in Redis): counted as misses. */
  undecryptable: number;
}

export class RedisVerifiedProofs implements SharedVerifiedProofs {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #sealed: SealedValues;
  readonly stats: SharedProofCacheStats = { hits: 0, misses: 0, stored: 0, errors: 0, undecryptable: 0 };

  constructor(redis: Redis, opts: { prefix: string; secret: Uint8Array }) {
    this.#redis = redis;
    this.#prefix = opts.prefix;
    this.#sealed = new SealedValues(opts.secret, {
      salt: 'agent-id-bridge shared verified-proof cache',
      valueInfo: 'aes-256-gcm value key v1',
      nameInfo: 'hmac-sha-256 key name key v1',
    });
  }

  async recall(key: string, platform: string, now: number): Promise<RecalledProof | undefined> {
    const name = this.#name(key);
    let stored: Buffer | null;
    try {
      stored = await this.#redis.getBuffer(name);
    } catch {
      this.stats.errors++;
      stored = null;
    }
    const opened = stored === null ? undefined : this.#sealed.open(name, stored);
    if (stored !== null && opened === undefined) this.stats.undecryptable++;
    const recalled = opened === undefined ? undefined : servable(opened, platform, now);
    if (recalled === undefined) this.stats.misses++;
    else this.stats.hits++;
    return recalled;
  }

  async remember(key: string, workload: VerifiedWorkload, until: number, now: number): Promise<void> {
    const ttlMs = Math.floor((until - now) * 1000);
    if (workload.singleUse !== undefined || !(ttlMs >= 1000)) return;
    const name = this.#name(key);
    try {
      await this.#redis.set(name, this.#sealed.seal(name, { workload, until }), 'PX', ttlMs);
      this.stats.stored++;
    } catch {
      this.stats.errors++;
    }
  }

  /** The cache's counters in the shape of the in-process caches' (src/util/expiring-cache.ts), for metrics. */
  cacheStats(): CacheStats {
    const { hits, misses, stored } = this.stats;
    // Entries live in Redis, not here: not counted by a replica.
    return {
      entries: 0,
      bytes: 0,
      inflight: 0,
      hits,
      misses,
      loads: stored,
      shared: 0,
      evictions: 0,
      expired: 0,
      sweeps: 0,
    };
  }

  #name(key: string): string {
    return `${this.#prefix}proof:${this.#sealed.name(key)}`;
  }
}

/** `{workload, until}` as sealed by `remember`, if it may be served for `platform` at `now`. */
function servable(value: Record<string, unknown>, platform: string, now: number): RecalledProof | undefined {
  const { workload, until } = value;
  if (typeof until !== 'number' || !(until > now)) return undefined;
  if (typeof workload !== 'object' || workload === null) return undefined;
  const w = workload as Partial<Record<keyof VerifiedWorkload, unknown>>;
  const wellFormed =
    w.platform === platform &&
    w.singleUse === undefined &&
    typeof w.expiresAt === 'number' &&
    w.expiresAt > now &&
    typeof w.proofKind === 'string' &&
    typeof w.issuer === 'string' &&
    typeof w.principal === 'string' &&
    typeof w.attributes === 'object' &&
    w.attributes !== null;
  return wellFormed ? { workload: workload as VerifiedWorkload, until } : undefined;
}
