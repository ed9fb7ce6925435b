/**
 * Remembers proofs that verified, so a workload that re-presents the same token (a GCP ID token
 * lives an hour and clients reuse it) costs a map lookup instead of an RS256 verification and two
 * hashes. Bounded in size and in time: an entry lives until the proof expires or for at most
 * VERIFIED_PROOF_TTL_SEC, so a key Google withdraws stops being honoured within that window.
 * Single-use proofs (n8n assertions, with their jti) are never cached: each presentation must
 * reach the replay store.
 */
import type { VerifiedWorkload } from './contract.ts';

export const VERIFIED_PROOF_TTL_SEC = 300;
const MAX_ENTRIES = 10_000;

interface Entry {
  workload: VerifiedWorkload;
  proofSha256: string;
  until: number;
}

export class VerifiedProofCache {
  readonly #entries = new Map<string, Entry>();

  get(key: string, now: number): Entry | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (e.until <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }

  set(key: string, workload: VerifiedWorkload, proofSha256: string, now: number): void {
    const until = Math.min(workload.expiresAt, now + VERIFIED_PROOF_TTL_SEC);
    if (until <= now) return;
    if (this.#entries.size >= MAX_ENTRIES) {
      for (const [k, e] of this.#entries) if (e.until <= now) this.#entries.delete(k);
      if (this.#entries.size >= MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
    }
    this.#entries.set(key, { workload, proofSha256, until });
  }
}
