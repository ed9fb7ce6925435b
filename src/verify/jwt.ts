/**
 * One shared JWT proof verifier, built on jose (style.md §B.2 rule 1). GCP ID tokens, AWS web
 * identity JWTs and n8n instance assertions are configurations of it; adapters only describe
 * issuers, keys, algorithms and how claims become a VerifiedWorkload.
 */
import {
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTHeaderParameters,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from 'jose';
import { CLOCK_SKEW_SEC, JWKS_CACHE_MAX_AGE_MS, JWKS_COOLDOWN_MS, JWKS_MAX_RESPONSE_BYTES, JWKS_TIMEOUT_MS, MAX_TOKEN_BYTES, VERIFIER_RETRY_AFTER_SEC } from '../constants.ts';
import type { ReasonCode } from '../errors.ts';
import { UpstreamError, type BoundedFetch } from '../net/bounded-fetch.ts';
import { accept, refuse, type Platform, type ProofInput, type Result, type VerifyContext, type VerifyResult, type WorkloadFields, type WorkloadVerifier } from './contract.ts';

export interface JwtProofVerifierOptions {
  platform: Platform;
  proofKind: string;
  tokenTypes: readonly string[];
  /** Exact `iss` values this verifier trusts. */
  issuers: readonly string[];
  /** Key resolver for a trusted issuer (remote JWKS, local set). Called only after `iss` matched. */
  keysFor(issuer: string): JWTVerifyGetKey;
  /** Allow-list of JWS `alg` values; anything else (including `none` and HS*) is refused. */
  algorithms: readonly string[];
  /** Required JOSE `typ` header, when the platform sets one. */
  typ?: string;
  /** The audience the proof must carry; defaults to the bridge's audience. */
  audience?: (ctx: VerifyContext) => string;
  /** Longest accepted `exp - iat`. */
  maxLifetimeSec: number;
  /** Tolerated clock skew on exp/nbf/iat; default (and maximum) CLOCK_SKEW_SEC. */
  clockSkewSec?: number;
  /** Claims that must be present besides iss/aud/exp/iat. */
  requiredClaims?: readonly string[];
  /** Record `jti` in the replay store: every proof is accepted once. */
  singleUse?: boolean;
  /** Turn verified claims into the workload's fields, or refuse (usually `proof_claim`). */
  toWorkload(payload: JWTPayload, header: JWTHeaderParameters): Result<WorkloadFields>;
}

/** The unverified `iss` of a compact JWT, or undefined. Routing only, never trust (design.md §2). */
export function peekIssuer(token: string): string | undefined {
  try {
    const iss = decodeJwt(token).iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}

export function createJwtProofVerifier(opts: JwtProofVerifierOptions): WorkloadVerifier {
  const issuers = new Set(opts.issuers);
  const algorithms = [...opts.algorithms];
  const skew = Math.min(opts.clockSkewSec ?? CLOCK_SKEW_SEC, CLOCK_SKEW_SEC);
  return {
    platform: opts.platform,
    tokenTypes: opts.tokenTypes,
    issuers: [...issuers],
    singleUse: opts.singleUse === true,
    accepts(_input: ProofInput, unverifiedIssuer: string | undefined) {
      return unverifiedIssuer !== undefined && issuers.has(unverifiedIssuer);
    },
    async verify(input: ProofInput, ctx: VerifyContext): Promise<VerifyResult> {
      if (input.token.length > MAX_TOKEN_BYTES) return refuse('proof_too_large', `proof is ${input.token.length} bytes`);
      let header: JWTHeaderParameters;
      try {
        header = decodeProtectedHeader(input.token) as JWTHeaderParameters;
      } catch {
        return refuse('proof_malformed', 'not a compact JWS');
      }
      // Refuse a disallowed alg before touching keys: `none`, HS256-with-the-RSA-key and friends.
      if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) {
        return refuse('proof_alg_not_allowed', `alg ${JSON.stringify(header.alg)} is not in [${algorithms.join(', ')}]`);
      }
      const iss = peekIssuer(input.token);
      if (iss === undefined || !issuers.has(iss)) return refuse('proof_untrusted_issuer', `issuer ${JSON.stringify(iss)} is not configured`);

      const audience = opts.audience ? opts.audience(ctx) : ctx.audience;
      const verifyOptions: JWTVerifyOptions = {
        algorithms,
        issuer: iss,
        audience,
        clockTolerance: skew,
        maxTokenAge: opts.maxLifetimeSec + skew,
        currentDate: new Date(ctx.now * 1000),
        requiredClaims: ['iss', 'aud', 'exp', 'iat', ...(opts.requiredClaims ?? [])],
        ...(opts.typ ? { typ: opts.typ } : {}),
      };
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(input.token, opts.keysFor(iss), verifyOptions));
      } catch (e) {
        return fromJoseError(e);
      }
      const iat = payload.iat as number;
      const exp = payload.exp as number;
      if (exp - iat > opts.maxLifetimeSec) return refuse('proof_too_old', `lifetime exp-iat=${exp - iat}s exceeds ${opts.maxLifetimeSec}s`);
      if (iat > ctx.now + skew) return refuse('proof_not_yet_valid', `iat ${iat} is in the future`);

      const mapped = opts.toWorkload(payload, header);
      if (!mapped.ok) return mapped;

      if (opts.singleUse) {
        if (typeof payload.jti !== 'string' || payload.jti.length === 0) return refuse('proof_claim', 'jti is required');
        const fresh = await ctx.replay.markUsed(`${opts.platform}:${iss}:${payload.jti}`, exp + skew);
        if (!fresh) return refuse('proof_replayed', `jti ${payload.jti} was already used`);
      }
      return accept({ platform: opts.platform, proofKind: opts.proofKind, issuer: iss, expiresAt: exp, ...mapped.value });
    },
  };
}

function fromJoseError(e: unknown): VerifyResult {
  if (e instanceof UpstreamError) return refuse('verifier_unavailable', e.message, { retryAfterSec: VERIFIER_RETRY_AFTER_SEC });
  if (e instanceof errors.JWTExpired) return refuse('proof_expired', 'exp is in the past');
  if (e instanceof errors.JWTClaimValidationFailed) {
    const byClaim: Record<string, ReasonCode> = { aud: 'proof_audience', iss: 'proof_untrusted_issuer', nbf: 'proof_not_yet_valid', typ: 'proof_malformed' };
    let reason: ReasonCode = byClaim[e.claim] ?? 'proof_claim';
    if (e.claim === 'iat') reason = e.reason === 'check_failed' ? 'proof_not_yet_valid' : 'proof_too_old';
    return refuse(reason, `claim ${e.claim} ${e.reason}`);
  }
  if (e instanceof errors.JOSEAlgNotAllowed) return refuse('proof_alg_not_allowed', 'alg not allowed');
  if (e instanceof errors.JWSSignatureVerificationFailed) return refuse('proof_signature', 'signature does not verify');
  if (e instanceof errors.JWKSNoMatchingKey) return refuse('proof_unknown_key', 'no key with this kid in the issuer JWKS');
  if (e instanceof errors.JWKSMultipleMatchingKeys) return refuse('proof_unknown_key', 'several keys match; kid required');
  if (e instanceof errors.JWKSTimeout) return refuse('verifier_unavailable', 'JWKS fetch timed out', { retryAfterSec: VERIFIER_RETRY_AFTER_SEC });
  if (e instanceof errors.JWSInvalid || e instanceof errors.JWTInvalid) return refuse('proof_malformed', 'malformed JWT');
  if (e instanceof errors.JWKSInvalid || e instanceof errors.JOSENotSupported || e instanceof errors.JWKInvalid) {
    return refuse('verifier_unavailable', `issuer keys unusable: ${(e as Error).message}`, { retryAfterSec: VERIFIER_RETRY_AFTER_SEC });
  }
  if (e instanceof errors.JOSEError) return refuse('verifier_unavailable', `key set unavailable: ${e.code}`, { retryAfterSec: VERIFIER_RETRY_AFTER_SEC });
  return refuse('verifier_unavailable', `key set unavailable: ${(e as Error).message}`, { retryAfterSec: VERIFIER_RETRY_AFTER_SEC });
}

/**
 * A remote JWKS resolver whose fetches go through the bounded fetch port (timeout, byte cap,
 * scheme policy), with jose's cache and its cooldown-bounded refetch on an unknown `kid`.
 */
export function remoteJwks(url: string, fetchPort: BoundedFetch, cache?: { cacheMaxAgeMs?: number; cooldownMs?: number }): JWTVerifyGetKey {
  return createRemoteJWKSet(new URL(url), {
    timeoutDuration: JWKS_TIMEOUT_MS,
    cooldownDuration: cache?.cooldownMs ?? JWKS_COOLDOWN_MS,
    cacheMaxAge: cache?.cacheMaxAgeMs ?? JWKS_CACHE_MAX_AGE_MS,
    [customFetch]: async (u: string) => {
      const res = await fetchPort(u, { timeoutMs: JWKS_TIMEOUT_MS, maxBytes: JWKS_MAX_RESPONSE_BYTES, headers: { accept: 'application/json' } });
      return new Response(res.text, { status: res.status, headers: res.headers });
    },
  });
}
