/**
 * The keys of the verified-proof cache (./verified-cache.ts). A proof is filed under its token type
 * and the SHA-256 of its exact text, computed once per request and also written to the audit line
 * as `proof_sha256`; never under the proof itself. So a key is 64 hex characters plus the type
 * whatever the proof's size, the cache's byte bound counts workloads rather than proofs, and no
 * bearer proof is held as a key for as long as its entry lives (docs/performance.md).
 *
 * A verifier with a canonical identity of its proofs (AWS: the rebuilt signed request, already a
 * digest) files them under a second key of its own shape, which never equals an exact key: an
 * exact key has one line break, a canonical key at least two, and token types are URNs without one
 * (routing refuses any other type first).
 */
import { sha256Hex } from '../util/hash.ts';

/** The digest of a proof's exact text: the exact key's part and the audit line's `proof_sha256`. */
export function proofDigest(token: string): string {
  return sha256Hex(token);
}

/** The key of a proof by its exact text: distinct proofs, or one proof under two token types, get distinct keys. */
export function exactProofKey(tokenType: string, proofSha256: string): string {
  return `${tokenType}\n${proofSha256}`;
}

/** The key of a proof by its verifier's canonical identity (every spelling of one request: one key). */
export function canonicalProofKey(tokenType: string, canonical: string): string {
  return `${tokenType}\ncanonical\n${canonical}`;
}
