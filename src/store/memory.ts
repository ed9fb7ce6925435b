import type { ReplayStore } from './ports.ts';

/** In-process replay store: correct for one Node process or one isolate, not across replicas. */
export class MemoryReplayStore implements ReplayStore {
  readonly #used = new Map<string, number>();
  readonly #clock: () => number;
  readonly #maxEntries: number;

  constructor(clock: () => number = () => Math.floor(Date.now() / 1000), maxEntries = 100_000) {
    this.#clock = clock;
    this.#maxEntries = maxEntries;
  }

  async markUsed(key: string, expiresAt: number): Promise<boolean> {
    const now = this.#clock();
    const seen = this.#used.get(key);
    if (seen !== undefined && seen > now) return false;
    if (this.#used.size >= this.#maxEntries) this.#sweep(now);
    if (this.#used.size >= this.#maxEntries) {
      // Fail closed: refusing a fresh proof is better than forgetting a used one.
      return false;
    }
    this.#used.set(key, expiresAt);
    return true;
  }

  #sweep(now: number): void {
    for (const [k, exp] of this.#used) if (exp <= now) this.#used.delete(k);
  }
}
