/**
 * What a caller may read about its own refused JWT proof: what it sent and what is
 * public (the audience it must carry, the token type, the algorithms of a public issuer, the
 * lifetime rule). Never policy contents, never which issuers, instances or keys the bridge knows.
 *
 * Refusals raised before the signature verified only get a hint when the verifier's issuers are
 * public (Google's): otherwise the hint itself would tell a prober that an issuer (an AWS account, an
 * n8n instance) is configured, since an unknown issuer is refused earlier and generically.
 */
import type { ReasonCode } from '../errors.ts';
import type { Refusal } from './contract.ts';

export interface HintContext {
  audience: string;
  algorithms: readonly string[];
  typ: string | undefined;
  maxLifetimeSec: number;
  /** Oldest accepted `iat`, in seconds before now; default `maxLifetimeSec`. */
  maxTokenAgeSec?: number;
}

/** Refusals whose hint depends on nothing but the token's own content, judged after the signature verified. */
const AFTER_SIGNATURE: ReadonlySet<ReasonCode> = new Set([
  'proof_audience',
  'proof_audience_multiple',
  'proof_expired',
  'proof_not_yet_valid',
  'proof_too_old',
  'proof_typ_mismatch',
]);

export function withProofHint(r: Refusal, c: HintContext, issuersArePublic: boolean): Refusal {
  if (r.publicDetail !== undefined) return r;
  if (!AFTER_SIGNATURE.has(r.reason) && !issuersArePublic) return r;
  const hint = hintFor(r, c);
  return hint === undefined ? r : { ...r, publicDetail: hint };
}

function hintFor(r: Refusal, c: HintContext): string | undefined {
  switch (r.reason) {
    case 'proof_audience':
      return `Its audience (aud) must be "${c.audience}".`;
    case 'proof_audience_multiple':
      return `It must carry exactly one audience (aud), "${c.audience}", as a string or a one-element array.`;
    case 'proof_expired':
      return 'It has expired (exp); present a fresh one.';
    case 'proof_not_yet_valid':
      return "It is not valid yet (nbf or iat is in the future); check the workload's clock.";
    case 'proof_too_old':
      return `It is older than the ${c.maxTokenAgeSec ?? c.maxLifetimeSec} seconds accepted, or its lifetime (exp - iat) is longer than ${c.maxLifetimeSec} seconds; present a fresh one.`;
    case 'proof_typ_mismatch':
      return `Its JOSE header typ must be "${c.typ ?? 'JWT'}".`;
    case 'proof_alg_not_allowed':
      return `Its alg must be ${c.algorithms.join(' or ')}.`;
    case 'proof_header_unsupported':
      return 'Its JOSE header must not carry crit: the bridge supports no JWS extension (RFC 7515 §4.1.11).';
    default:
      return undefined;
  }
}
