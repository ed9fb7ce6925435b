/**
 * Counts hits per key in fixed windows (one minute by default), at O(1) per hit and with a hard cap
 * on the keys one window holds. When the window turns, the whole table is replaced: nothing is ever
 * walked, so a flood of new keys costs each request the same as a familiar key does.
 *
 * When the table is full, a key it does not hold yet is refused (`full`) until the window turns,
 * while keys already counted go on being counted. The alternative, evicting an entry to make room,
 * would let a flood of new keys reset the count of a key over its limit, which is the very caller
 * the limit exists for; failing closed costs at most one window, for new keys only.
 */
import { RATE_LIMIT_WINDOW_SEC } from '../constants.ts';

export type WindowHit =
  | { readonly allowed: true; readonly count: number }
  | { readonly allowed: false; readonly full: boolean; readonly retryAfterSec: number };

export class WindowCounter {
  readonly #limit: number;
  readonly #maxKeys: number;
  readonly #windowSec: number;
  #window = Number.NaN;
  #counts = new Map<string, number>();

  constructor(opts: { limit: number; maxKeys: number; windowSec?: number }) {
    this.#limit = opts.limit;
    this.#maxKeys = opts.maxKeys;
    this.#windowSec = opts.windowSec ?? RATE_LIMIT_WINDOW_SEC;
  }

  /** Count one hit for `key` at `now` (unix seconds). */
  hit(key: string, now: number): WindowHit {
    const window = Math.floor(now / this.#windowSec);
    if (window !== this.#window) {
      this.#window = window;
      this.#counts = new Map();
    }
    const retryAfterSec = (window + 1) * this.#windowSec - now;
    const seen = this.#counts.get(key);
    if (seen === undefined && this.#counts.size >= this.#maxKeys) return { allowed: false, full: true, retryAfterSec };
    const count = (seen ?? 0) + 1;
    // Stop counting past the limit: the answer is the same and the number stays small.
    if (count > this.#limit) return { allowed: false, full: false, retryAfterSec };
    this.#counts.set(key, count);
    return { allowed: true, count };
  }

  /** Keys held in the current window (tests and metrics). */
  get size(): number {
    return this.#counts.size;
  }
}
