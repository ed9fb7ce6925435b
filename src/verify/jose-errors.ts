/**
 * Every error jose can raise while verifying a JWT proof, mapped on purpose to who caused it.
 *
 * The rule (RFC 8693 §2.2.2, RFC 6749 §5.2): what the presented token causes is a 400 refusal with
 * a reason of its own; only a failure of the issuer's key set or of the network is
 * `verifier_unavailable` (503). Where an error was raised tells them apart: the key resolver is
 * wrapped by `keySetBoundary`, and whatever it throws that is not about the token's own `kid` is
 * re-thrown as a `KeySetFailure`. Everything jose throws outside the boundary comes from the token.
 *
 * jose 6 error classes (node_modules/jose/dist/webapi/util/errors.js) and where they come from:
 *   inside the key resolver (createRemoteJWKSet, createLocalJWKSet, the adapters' resolvers):
 *     JWKSNoMatchingKey, JWKSMultipleMatchingKeys  the token's kid/alg selects no single key → proof_unknown_key
 *     JWSInvalid                                   the token has no kid where one is required → proof_malformed
 *     JWKSTimeout, JWKSInvalid, JWKInvalid, JOSENotSupported (a served key jose cannot import),
 *     JOSEError (non-200, not JSON), UpstreamError, any other Error  → verifier_unavailable
 *   outside it (jwtVerify on the token):
 *     JWSInvalid, JWTInvalid        structure, header JSON, crit/b64 misuse, payload JSON → proof_malformed
 *     JOSENotSupported              a crit extension jose does not know (RFC 7515 §4.1.11) → proof_header_unsupported
 *     JOSEAlgNotAllowed             → proof_alg_not_allowed
 *     JWSSignatureVerificationFailed → proof_signature
 *     JWTExpired (exp)              → proof_expired;  JWTExpired (iat, older than the lifetime) → proof_too_old
 *     JWTClaimValidationFailed      aud → proof_audience, iss → proof_untrusted_issuer, nbf or a future iat
 *                                   → proof_not_yet_valid, typ → proof_typ_mismatch, a missing or
 *                                   non-numeric claim → proof_claim
 *     JWEDecryptionFailed, JWEInvalid (never raised by jwtVerify; a JWE is not a JWS) → proof_malformed
 *   Anything else raised outside the boundary is the bridge's own fault: re-thrown, so the app logs
 *   it and answers 500, rather than blaming the caller or paging as an issuer outage.
 */
import { errors, type JWTHeaderParameters, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { VERIFIER_RETRY_AFTER_SEC } from '../constants.ts';
import { UpstreamError } from '../net/bounded-fetch.ts';
import type { ReasonCode } from '../errors.ts';
import { refuse, type Refusal, type RefusalFields } from './contract.ts';

/** RFC 7518 §3.3: RSA keys for RS256 are 2048 bits or larger; jose enforces it too. */
const MIN_RSA_MODULUS_BITS = 2048;

/** The issuer's key set (or the network to it) failed: not the token's doing. */
export class KeySetFailure extends Error {
  readonly failure: unknown;
  constructor(failure: unknown) {
    super(failure instanceof Error ? `${failure.name}: ${failure.message}` : String(failure));
    this.name = 'KeySetFailure';
    this.failure = failure;
  }
}

/** Token-caused errors a key resolver may raise: about the token's own `kid` or `alg`. */
function isTokenCausedLookup(e: unknown): boolean {
  return (
    e instanceof errors.JWKSNoMatchingKey ||
    e instanceof errors.JWKSMultipleMatchingKeys ||
    e instanceof errors.JWSInvalid
  );
}

/** Wraps a key resolver so that a failure of the key set is told apart from a failure of the token. */
export function keySetBoundary(getKey: JWTVerifyGetKey): JWTVerifyGetKey {
  return async (header, token) => {
    let key: Awaited<ReturnType<JWTVerifyGetKey>>;
    try {
      key = await getKey(header, token);
    } catch (e) {
      if (isTokenCausedLookup(e)) throw e;
      throw new KeySetFailure(e);
    }
    // A served RSA key too short to use is the issuer's problem (jose would raise a bare TypeError later).
    const modulus = (key as { algorithm?: { modulusLength?: unknown } }).algorithm?.modulusLength;
    if (typeof modulus === 'number' && modulus < MIN_RSA_MODULUS_BITS)
      throw new KeySetFailure(new Error(`served RSA key has ${modulus} bits`));
    return key;
  };
}

export interface JoseErrorContext {
  header: JWTHeaderParameters;
  audience: string;
  issuers: readonly string[];
  algorithms: readonly string[];
  typ: string | undefined;
  maxLifetimeSec: number;
  /** Oldest accepted `iat`, in seconds before now; default `maxLifetimeSec`. */
  maxTokenAgeSec?: number;
  now: number;
  skewSec: number;
}

/** The refusal for an error raised while verifying a proof; re-throws errors that are the bridge's own. */
export function refusalFromJoseError(e: unknown, c: JoseErrorContext): Refusal {
  if (e instanceof KeySetFailure) {
    const cause = e.failure;
    const what =
      cause instanceof errors.JWKSTimeout || cause instanceof UpstreamError
        ? 'issuer key set unreachable'
        : 'issuer key set unusable';
    return refuse('verifier_unavailable', `${what}: ${e.message}`, { retryAfterSec: VERIFIER_RETRY_AFTER_SEC });
  }
  if (e instanceof errors.JWTExpired) return claimRefusal(e.claim === 'iat' ? 'proof_too_old' : 'proof_expired', e, c);
  if (e instanceof errors.JWTClaimValidationFailed) return claimRefusal(reasonOfClaim(e), e, c);
  if (e instanceof errors.JOSEAlgNotAllowed)
    return refuse('proof_alg_not_allowed', 'alg not allowed', {
      fields: { claim: 'alg', received: String(c.header.alg), expected: c.algorithms.join(' ') },
    });
  if (e instanceof errors.JWSSignatureVerificationFailed)
    return refuse('proof_signature', 'signature does not verify', {
      fields: { alg: String(c.header.alg), kid: String(c.header.kid) },
    });
  if (e instanceof errors.JWKSNoMatchingKey)
    return refuse('proof_unknown_key', 'no key of the issuer matches the kid and alg', {
      fields: { kid: String(c.header.kid), alg: String(c.header.alg) },
    });
  if (e instanceof errors.JWKSMultipleMatchingKeys)
    return refuse('proof_unknown_key', 'several keys match; the proof must name one with kid', {
      fields: { alg: String(c.header.alg) },
    });
  if (e instanceof errors.JOSENotSupported)
    return refuse('proof_header_unsupported', `header uses a feature the bridge does not support: ${e.message}`, {
      fields: { claim: 'crit', received: JSON.stringify(c.header.crit) ?? 'absent', expected: 'absent' },
    });
  if (
    e instanceof errors.JWSInvalid ||
    e instanceof errors.JWTInvalid ||
    e instanceof errors.JWEInvalid ||
    e instanceof errors.JWEDecryptionFailed
  ) {
    return refuse('proof_malformed', `malformed JWT: ${e.message}`);
  }
  if (e instanceof errors.JOSEError) return refuse('proof_malformed', `malformed JWT (${e.code}): ${e.message}`);
  throw e;
}

function reasonOfClaim(e: errors.JWTClaimValidationFailed): ReasonCode {
  if (e.reason === 'missing' || e.reason === 'invalid') return 'proof_claim';
  switch (e.claim) {
    case 'aud':
      return 'proof_audience';
    case 'iss':
      return 'proof_untrusted_issuer';
    case 'nbf':
    case 'iat':
      return 'proof_not_yet_valid';
    case 'typ':
      return 'proof_typ_mismatch';
    default:
      return 'proof_claim';
  }
}

/** Audit fields name the claim with the received and expected values; none of them is secret. */
function claimRefusal(reason: ReasonCode, e: errors.JWTClaimValidationFailed, c: JoseErrorContext): Refusal {
  const claim = e.claim;
  const fields: RefusalFields = {
    claim,
    received: received(claim, e.payload, c.header),
    expected: expected(claim, reason, c),
    check: e.reason,
  };
  return refuse(reason, `claim ${claim} ${e.reason}`, { fields });
}

function received(claim: string, payload: JWTPayload, header: JWTHeaderParameters): string {
  const value = claim === 'typ' ? header.typ : payload[claim];
  return value === undefined ? 'absent' : JSON.stringify(value);
}

function expected(claim: string, reason: ReasonCode, c: JoseErrorContext): string {
  switch (claim) {
    case 'aud':
      return c.audience;
    case 'iss':
      return c.issuers.join(' ');
    case 'typ':
      return c.typ ?? 'any';
    case 'exp':
      return `after ${c.now - c.skewSec}`;
    case 'nbf':
      return `at or before ${c.now + c.skewSec}`;
    case 'iat':
      return reason === 'proof_too_old'
        ? `at or after ${c.now - (c.maxTokenAgeSec ?? c.maxLifetimeSec) - c.skewSec}`
        : `at or before ${c.now + c.skewSec}`;
    default:
      return 'present';
  }
}
