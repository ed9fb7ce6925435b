import { REPLAY_FULL_RETRY_AFTER_SEC, REPLAY_MAX_ENTRIES, REPLAY_QUOTA_PER_ISSUER } from '../constants.ts';
import { StoreUnavailableError, type ReplayAnswer, type ReplayStore } from './ports.ts';

export interface ReplayStoreLimits {
  /** Unexpired keys the whole store holds at most. */
  maxEntries?: number;
  /** Unexpired keys one partition (one issuer) holds at most, so that one cannot crowd out the others. */
  maxPerPartition?: number;
}

interface SpentKey {
  readonly expiresAt: number;
  readonly partition: string;
}

/**
 * In-process replay store: correct for one Node process or one isolate, not across replicas.
 * Keys are filed by the second they expire in; each call first drops the seconds that have passed,
 * so a key is visited once after it expires and a full store is answered in O(1), never by a scan.
 */
export class MemoryReplayStore implements ReplayStore {
  readonly #used = new Map<string, SpentKey>();
  readonly #perPartition = new Map<string, number>();
  /** Expiry second → keys that expire in it; `#seconds` lists those seconds in ascending order. */
  readonly #byExpiry = new Map<number, string[]>();
  readonly #seconds: number[] = [];
  readonly #clock: () => number;
  readonly #maxEntries: number;
  readonly #maxPerPartition: number;

  constructor(clock: () => number = () => Math.floor(Date.now() / 1000), limits: ReplayStoreLimits = {}) {
    this.#clock = clock;
    this.#maxEntries = limits.maxEntries ?? REPLAY_MAX_ENTRIES;
    this.#maxPerPartition = limits.maxPerPartition ?? REPLAY_QUOTA_PER_ISSUER;
  }

  async markUsed(key: string, expiresAt: number, partition: string): Promise<ReplayAnswer> {
    const now = this.#clock();
    this.#dropExpired(now);
    const seen = this.#used.get(key);
    if (seen !== undefined && seen.expiresAt > now) return 'replayed';
    if (seen !== undefined) this.#forget(key, seen);
    // Fail closed, and say why: refusing a fresh proof is better than forgetting a used one.
    if (this.#used.size >= this.#maxEntries) {
      const freesAt = this.#seconds[0] ?? now;
      throw new StoreUnavailableError(
        'replay',
        'full',
        `${this.#used.size} unexpired keys`,
        Math.max(1, freesAt + 1 - now),
      );
    }
    const count = this.#perPartition.get(partition) ?? 0;
    if (count >= this.#maxPerPartition) {
      throw new StoreUnavailableError(
        'replay',
        'full',
        `partition ${partition} holds ${count} unexpired keys, its quota`,
        REPLAY_FULL_RETRY_AFTER_SEC,
        partition,
      );
    }
    this.#used.set(key, { expiresAt, partition });
    this.#perPartition.set(partition, count + 1);
    this.#file(key, expiresAt);
    return 'fresh';
  }

  async isUsed(key: string): Promise<boolean> {
    const seen = this.#used.get(key);
    return seen !== undefined && seen.expiresAt > this.#clock();
  }

  #file(key: string, expiresAt: number): void {
    const keys = this.#byExpiry.get(expiresAt);
    if (keys) {
      keys.push(key);
      return;
    }
    this.#byExpiry.set(expiresAt, [key]);
    // Few distinct seconds are live at once (proof lifetimes are bounded); most land at the end.
    let i = this.#seconds.length;
    while (i > 0 && this.#seconds[i - 1]! > expiresAt) i -= 1;
    this.#seconds.splice(i, 0, expiresAt);
  }

  #dropExpired(now: number): void {
    while (this.#seconds.length > 0 && this.#seconds[0]! <= now) {
      const second = this.#seconds.shift()!;
      for (const key of this.#byExpiry.get(second) ?? []) {
        const entry = this.#used.get(key);
        // A key spent again after it expired is filed under its new second: leave it there.
        if (entry !== undefined && entry.expiresAt === second) this.#forget(key, entry);
      }
      this.#byExpiry.delete(second);
    }
  }

  #forget(key: string, entry: SpentKey): void {
    this.#used.delete(key);
    const left = (this.#perPartition.get(entry.partition) ?? 1) - 1;
    if (left > 0) this.#perPartition.set(entry.partition, left);
    else this.#perPartition.delete(entry.partition);
  }
}
