/**
 * One shared JWT proof verifier, built on jose (docs/architecture.md#code-layout). GCP ID tokens, AWS web
 * identity JWTs, n8n instance assertions and each oidc issuer's tokens are configurations of it; adapters only describe
 * issuers, keys, algorithms and how claims become a VerifiedWorkload.
 */
import {
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  jwtVerify,
  type JWTHeaderParameters,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from 'jose';
import {
  CLOCK_SKEW_SEC,
  JWKS_CACHE_MAX_AGE_MS,
  JWKS_COOLDOWN_MS,
  JWKS_MAX_RESPONSE_BYTES,
  JWKS_TIMEOUT_MS,
} from '../constants.ts';
import type { BoundedFetch } from '../net/bounded-fetch.ts';
import { keySetBoundary, refusalFromJoseError } from './jose-errors.ts';
import { decodeCompactJwt } from './jwt-decode.ts';
import { withProofHint } from './proof-hints.ts';
import {
  accept,
  refuse,
  type Platform,
  type ProofInput,
  type Refusal,
  type Result,
  type VerifyContext,
  type VerifyResult,
  type WorkloadFields,
  type WorkloadVerifier,
} from './contract.ts';

export interface JwtProofVerifierOptions {
  platform: Platform;
  proofKind: string;
  tokenTypes: readonly string[];
  /** Exact `iss` values this verifier trusts. */
  issuers: readonly string[];
  /**
   * Key resolver for a trusted issuer (remote JWKS, local set). Called only after `iss` matched, once
   * per issuer: the resolver it returns is kept and asked for every proof of that issuer.
   */
  keysFor(issuer: string): JWTVerifyGetKey;
  /** Allow-list of JWS `alg` values; anything else (including `none` and HS*) is refused. */
  algorithms: readonly string[];
  /** Required JOSE `typ` header, when the platform sets one. */
  typ?: string;
  /** The audience the proof must carry; defaults to the bridge's audience. */
  audience?: (ctx: VerifyContext) => string;
  /** Longest accepted `exp - iat`. */
  maxLifetimeSec: number;
  /** Oldest accepted `iat`, in seconds before now; default `maxLifetimeSec`. */
  maxTokenAgeSec?: number;
  /** Tolerated clock skew on exp/nbf/iat; default (and maximum) CLOCK_SKEW_SEC. */
  clockSkewSec?: number;
  /**
   * The trusted issuers are public facts (Google's), so refusals raised before the signature
   * verified may tell the caller what to fix; see src/verify/proof-hints.ts.
   */
  issuersArePublic?: boolean;
  /** Claims that must be present besides iss/aud/exp/iat. */
  requiredClaims?: readonly string[];
  /** Every proof is accepted once: the workload carries its `jti` for the exchange to spend. */
  singleUse?: boolean;
  /** The principal is unique only within its issuer: the workload carries `principalScope: iss`. */
  principalsPerIssuer?: boolean;
  /** Turn verified claims into the workload's fields, or refuse (usually `proof_claim`). */
  toWorkload(payload: JWTPayload, header: JWTHeaderParameters): Result<WorkloadFields>;
}

/** The unverified `iss` of a compact JWT, or undefined. Routing only, never trust (docs/architecture.md#proof-routing). */
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
  const issuersArePublic = opts.issuersArePublic === true;
  const maxTokenAgeSec = opts.maxTokenAgeSec ?? opts.maxLifetimeSec;
  const requiredClaims = ['iss', 'aud', 'exp', 'iat', ...(opts.requiredClaims ?? [])];
  // One wrapped key resolver per trusted issuer, built on first use rather than per proof: `keysFor`
  // answers the same resolver for an issuer every time, and the issuers come from configuration.
  const keySets = new Map<string, JWTVerifyGetKey>();
  const keySetOf = (iss: string): JWTVerifyGetKey => {
    let keys = keySets.get(iss);
    if (keys === undefined) keySets.set(iss, (keys = keySetBoundary(opts.keysFor(iss))));
    return keys;
  };
  return {
    platform: opts.platform,
    tokenTypes: opts.tokenTypes,
    issuers: [...issuers],
    singleUse: opts.singleUse === true,
    accepts(_input: ProofInput, unverifiedIssuer: string | undefined) {
      return unverifiedIssuer !== undefined && issuers.has(unverifiedIssuer);
    },
    async verify(input: ProofInput, ctx: VerifyContext): Promise<VerifyResult> {
      const audience = opts.audience ? opts.audience(ctx) : ctx.audience;
      const hinted = (r: Refusal) =>
        withProofHint(
          r,
          { audience, algorithms, typ: opts.typ, maxLifetimeSec: opts.maxLifetimeSec, maxTokenAgeSec },
          issuersArePublic,
        );
      // The strict shape first: one spelling per token, before anything is decoded. Routing has
      // usually decoded this very token already (src/token/exchange.ts): then that decoding is used.
      const decoded =
        input.jwt !== undefined && input.jwt.token === input.token ? accept(input.jwt) : decodeCompactJwt(input.token);
      if (!decoded.ok) return decoded;
      const header = decoded.value.header as JWTHeaderParameters | undefined;
      if (header === undefined) return refuse('proof_malformed', 'the JOSE header is not a base64url JSON object');
      // Refuse a disallowed alg before touching keys: `none`, HS256-with-the-RSA-key and friends.
      if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) {
        return hinted(
          refuse('proof_alg_not_allowed', `alg ${JSON.stringify(header.alg)} is not in [${algorithms.join(', ')}]`, {
            fields: { claim: 'alg', received: JSON.stringify(header.alg) ?? 'absent', expected: algorithms.join(' ') },
          }),
        );
      }
      // None of these proofs uses a JWS extension; one that must be understood cannot be (RFC 7515 §4.1.11).
      if (header.crit !== undefined) {
        return hinted(
          refuse('proof_header_unsupported', 'the header names critical extensions', {
            fields: { claim: 'crit', received: JSON.stringify(header.crit), expected: 'absent' },
          }),
        );
      }
      const claimedIss = decoded.value.claims?.iss;
      const iss = typeof claimedIss === 'string' ? claimedIss : undefined;
      if (iss === undefined || !issuers.has(iss))
        return refuse('proof_untrusted_issuer', `issuer ${JSON.stringify(iss)} is not configured`, {
          fields: { claim: 'iss', received: JSON.stringify(iss) ?? 'absent' },
        });

      const verifyOptions: JWTVerifyOptions = {
        algorithms,
        issuer: iss,
        audience,
        clockTolerance: skew,
        maxTokenAge: maxTokenAgeSec + skew,
        currentDate: new Date(ctx.now * 1000),
        requiredClaims,
        ...(opts.typ ? { typ: opts.typ } : {}),
      };
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(input.token, keySetOf(iss), verifyOptions));
      } catch (e) {
        return hinted(
          refusalFromJoseError(e, {
            header,
            audience,
            issuers: opts.issuers,
            algorithms,
            typ: opts.typ,
            maxLifetimeSec: opts.maxLifetimeSec,
            maxTokenAgeSec,
            now: ctx.now,
            skewSec: skew,
          }),
        );
      }
      // jose accepts an `aud` array that merely contains the audience; a proof for several parties
      // could be replayed here by any of them, so exactly one audience is accepted.
      if (Array.isArray(payload.aud) && payload.aud.length !== 1) {
        return hinted(
          refuse('proof_audience_multiple', `aud names ${payload.aud.length} audiences`, {
            fields: { claim: 'aud', received: JSON.stringify(payload.aud), expected: audience },
          }),
        );
      }
      const iat = payload.iat as number;
      const exp = payload.exp as number;
      if (exp - iat > opts.maxLifetimeSec) {
        return hinted(
          refuse('proof_too_old', `lifetime exp-iat=${exp - iat}s exceeds ${opts.maxLifetimeSec}s`, {
            fields: { claim: 'exp', received: `exp-iat=${exp - iat}`, expected: `exp-iat<=${opts.maxLifetimeSec}` },
          }),
        );
      }
      if (iat > ctx.now + skew)
        return hinted(
          refuse('proof_not_yet_valid', `iat ${iat} is in the future`, {
            fields: { claim: 'iat', received: String(iat), expected: `at or before ${ctx.now + skew}` },
          }),
        );

      const toWorkload = opts.toWorkload(payload, header);
      if (!toWorkload.ok) return toWorkload;
      const mapped = opts.principalsPerIssuer ? accept({ ...toWorkload.value, principalScope: iss }) : toWorkload;

      if (opts.singleUse) {
        if (typeof payload.jti !== 'string' || payload.jti.length === 0)
          return refuse('proof_claim', 'jti is required');
        // Spent by the exchange once a rule matched (src/token/exchange.ts), never here: verifying is free of writes.
        return accept({
          platform: opts.platform,
          proofKind: opts.proofKind,
          issuer: iss,
          expiresAt: exp,
          ...mapped.value,
          proofId: payload.jti,
          singleUse: { partition: iss, usableUntil: exp + skew },
        });
      }
      return accept({
        platform: opts.platform,
        proofKind: opts.proofKind,
        issuer: iss,
        expiresAt: exp,
        ...mapped.value,
      });
    },
  };
}

/**
 * A remote JWKS resolver whose fetches go through the bounded fetch port (timeout, byte cap,
 * scheme policy), with jose's cache and its cooldown-bounded refetch on an unknown `kid`.
 */
export function remoteJwks(
  url: string,
  fetchPort: BoundedFetch,
  cache?: { cacheMaxAgeMs?: number; cooldownMs?: number },
): JWTVerifyGetKey {
  return createRemoteJWKSet(new URL(url), {
    timeoutDuration: JWKS_TIMEOUT_MS,
    cooldownDuration: cache?.cooldownMs ?? JWKS_COOLDOWN_MS,
    cacheMaxAge: cache?.cacheMaxAgeMs ?? JWKS_CACHE_MAX_AGE_MS,
    [customFetch]: async (u: string) => {
      const res = await fetchPort(u, {
        timeoutMs: JWKS_TIMEOUT_MS,
        maxBytes: JWKS_MAX_RESPONSE_BYTES,
        headers: { accept: 'application/json' },
        upstream: 'jwks',
      });
      return new Response(res.text, { status: res.status, headers: res.headers });
    },
  });
}
