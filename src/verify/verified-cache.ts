/**
 * Remembers proofs that verified, so a workload that re-presents the same token (a GCP ID token
 * lives an hour and clients reuse it) costs one hash and a map lookup instead of an RS256
 * verification. An entry lives until the proof expires or for at most VERIFIED_PROOF_TTL_SEC, so a
 * key its issuer withdraws stops being honoured within that window. Bounded in entries and in bytes,
 * the key included; keys are digests of the proof (./proof-key.ts), so a padded or otherwise inflated
 * proof costs an entry no more than any other. Single-use proofs (n8n assertions, with their jti)
 * are never cached: each presentation must reach the replay store.
 */
import {
  CACHE_ENTRY_OVERHEAD_BYTES,
  VERIFIED_PROOF_CACHE_MAX_BYTES,
  VERIFIED_PROOF_CACHE_MAX_ENTRIES,
  VERIFIED_PROOF_TTL_SEC,
} from '../constants.ts';
import { ExpiringCache, type CacheStats } from '../util/expiring-cache.ts';
import type { VerifiedWorkload } from './contract.ts';

export { VERIFIED_PROOF_TTL_SEC };

export interface VerifiedProof {
  workload: VerifiedWorkload;
  proofSha256: string;
}

export class VerifiedProofCache {
  readonly #cache: ExpiringCache<VerifiedProof>;

  constructor(bounds: { maxEntries?: number; maxBytes?: number } = {}) {
    this.#cache = new ExpiringCache({
      maxEntries: bounds.maxEntries ?? VERIFIED_PROOF_CACHE_MAX_ENTRIES,
      maxBytes: bounds.maxBytes ?? VERIFIED_PROOF_CACHE_MAX_BYTES,
      sizeOf: (key, entry) => key.length + entry.proofSha256.length + workloadBytes(entry.workload),
    });
  }

  get(key: string, now: number): VerifiedProof | undefined {
    return this.#cache.get(key, now);
  }

  /** Remember until `verifiedProofUntil`, or `notAfter` if earlier (a proof another replica verified: its own bound). */
  set(key: string, workload: VerifiedWorkload, proofSha256: string, now: number, notAfter = Infinity): void {
    this.#cache.set(key, { workload, proofSha256 }, Math.min(verifiedProofUntil(workload, now), notAfter), now);
  }

  get stats(): CacheStats {
    return this.#cache.stats;
  }
}

/** How long a proof verified at `now` may be answered from a cache: its own expiry, at most VERIFIED_PROOF_TTL_SEC. */
export function verifiedProofUntil(workload: VerifiedWorkload, now: number): number {
  return Math.min(workload.expiresAt, now + VERIFIED_PROOF_TTL_SEC);
}

/** The strings a workload holds, at one byte per character, plus the fixed cost of an entry. */
function workloadBytes(w: VerifiedWorkload): number {
  let n =
    CACHE_ENTRY_OVERHEAD_BYTES +
    w.platform.length +
    w.proofKind.length +
    w.issuer.length +
    w.principal.length +
    (w.proofId?.length ?? 0);
  for (const [k, v] of Object.entries(w.attributes)) n += k.length + String(v).length;
  if (w.auditContext) for (const [k, v] of Object.entries(w.auditContext)) n += k.length + String(v).length;
  return n;
}
