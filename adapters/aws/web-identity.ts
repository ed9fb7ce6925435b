/**
 * Proof kind 2: a JWT from sts:GetWebIdentityToken (AWS outbound identity federation,
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_outbound_getting_started.html), verified as a configuration of the shared JWT proof verifier. Only
 * configured per-account issuers are trusted; each issuer's keys are found through its discovery
 * document, whose `issuer` must equal the configured one and whose `jwks_uri` must stay on the
 * issuer's origin.
 */
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { JWKS_MAX_RESPONSE_BYTES, JWKS_TIMEOUT_MS, TOKEN_TYPE } from '../../src/constants.ts';
import type { BoundedFetch } from '../../src/net/bounded-fetch.ts';
import { isRecord } from '../../src/util/is-record.ts';
import {
  accept,
  refuse,
  type AdapterDeps,
  type Result,
  type WorkloadFields,
  type WorkloadVerifier,
} from '../../src/verify/contract.ts';
import { createJwtProofVerifier, remoteJwks } from '../../src/verify/jwt.ts';
import { principalFromIamArn } from './arn.ts';
import {
  AWS_CLAIMS_NAMESPACE,
  DISCOVERY_CACHE_MS,
  DISCOVERY_RETRY_COOLDOWN_MS,
  PROOF_KIND_WEB_IDENTITY,
  WEB_IDENTITY_ALGORITHMS,
  WEB_IDENTITY_MAX_LIFETIME_SEC,
} from './constants.ts';

export interface WebIdentityIssuer {
  /** 12-digit account id; the token's aws_account claim must equal it. */
  account: string;
  /** Exact issuer URL, e.g. https://abc123.tokens.sts.global.api.aws. */
  issuer: string;
}

/** AWS-asserted claims exposed to policy under these names (never the caller-chosen request_tags). */
const SCALAR_CLAIMS: Record<string, string> = {
  org_id: 'org_id',
  ou_path: 'ou_path',
  source_region: 'source_region',
  lambda_source_function_arn: 'lambda_source_function_arn',
};
/** IAM tag keys: letters, digits, spaces and _.:/=+-@ (1–128). */
const TAG_KEY = /^[\p{L}\p{N} _.:/=+\-@]{1,128}$/u;

export function createWebIdentityVerifier(issuers: readonly WebIdentityIssuer[], deps: AdapterDeps): WorkloadVerifier {
  const accountOf = new Map(issuers.map((i) => [i.issuer, i.account]));
  const keys = new Map(issuers.map((i) => [i.issuer, discoveredJwks(i.issuer, deps.fetch, deps.clock)]));
  return createJwtProofVerifier({
    platform: 'aws',
    proofKind: PROOF_KIND_WEB_IDENTITY,
    tokenTypes: [TOKEN_TYPE.jwt, TOKEN_TYPE.idToken],
    issuers: [...accountOf.keys()],
    keysFor: (issuer) => keys.get(issuer)!,
    algorithms: WEB_IDENTITY_ALGORITHMS,
    maxLifetimeSec: WEB_IDENTITY_MAX_LIFETIME_SEC,
    requiredClaims: ['sub'],
    toWorkload: (payload) => webIdentityWorkload(payload, accountOf.get(payload.iss as string)!),
  });
}

/** Pure: verified claims → principal and attributes, or a refusal. */
export function webIdentityWorkload(payload: JWTPayload, expectedAccount: string): Result<WorkloadFields> {
  if (typeof payload.sub !== 'string') return refuse('proof_claim', 'sub is missing', { fields: { claim: 'sub' } });
  const principal = principalFromIamArn(payload.sub);
  if (!principal.ok) return { ...principal, fields: { claim: 'sub', received: payload.sub.slice(0, 200) } };
  const aws = payload[AWS_CLAIMS_NAMESPACE];
  if (!isRecord(aws))
    return refuse('proof_claim', `the ${AWS_CLAIMS_NAMESPACE} claims are missing`, {
      fields: { claim: AWS_CLAIMS_NAMESPACE },
    });
  // The issuer is per account: a token from this issuer must be about this account (docs/platforms/aws.md#what-the-bridge-checks-and-why).
  if (aws.aws_account !== expectedAccount) {
    return refuse('proof_claim', `aws_account is not ${expectedAccount}, the account of this issuer`, {
      fields: { claim: 'aws_account', expected: expectedAccount, received: String(aws.aws_account).slice(0, 40) },
    });
  }
  if (principal.value.account !== expectedAccount) {
    return refuse('proof_claim', `sub names account ${principal.value.account}, not ${expectedAccount}`, {
      fields: { claim: 'sub', expected: expectedAccount, received: principal.value.account },
    });
  }

  const attributes: Record<string, string> = { ...principal.value.attributes };
  for (const [claim, attribute] of Object.entries(SCALAR_CLAIMS)) {
    const v = aws[claim];
    if (typeof v === 'string' && v.length > 0 && v.length <= 2048) attributes[attribute] = v;
  }
  if (isRecord(aws.principal_tags)) {
    for (const [key, value] of Object.entries(aws.principal_tags)) {
      if (TAG_KEY.test(key) && typeof value === 'string' && value.length <= 256) attributes[`tag:${key}`] = value;
    }
  }
  const auditContext: Record<string, string> = { sub: payload.sub };
  if (typeof payload.jti === 'string') auditContext.jti = payload.jti;
  if (isRecord(aws.request_tags)) auditContext.request_tags = JSON.stringify(aws.request_tags).slice(0, 1024);
  return accept({
    principal: principal.value.principal,
    attributes,
    auditContext,
    ...(typeof payload.jti === 'string' ? { proofId: payload.jti } : {}),
  });
}

/**
 * Keys of one issuer, found through OIDC discovery. The discovery answer is cached for an hour;
 * jose's remote set (inside remoteJwks) caches the keys and refetches on an unknown `kid` at most
 * once per cooldown. A failed discovery is retried after a cooldown; until then, a previously
 * discovered key set keeps serving.
 */
export function discoveredJwks(issuer: string, fetchPort: BoundedFetch, clock: () => number): JWTVerifyGetKey {
  let current: { jwksUri: string; keys: JWTVerifyGetKey; at: number } | undefined;
  let failedAt = -Infinity;
  let pending: Promise<JWTVerifyGetKey> | undefined;

  const nowMs = () => clock() * 1000;
  async function discover(): Promise<JWTVerifyGetKey> {
    try {
      const jwksUri = await fetchJwksUri(issuer, fetchPort);
      if (!current || current.jwksUri !== jwksUri)
        current = { jwksUri, keys: remoteJwks(jwksUri, fetchPort), at: nowMs() };
      else current.at = nowMs();
      return current.keys;
    } catch (e) {
      failedAt = nowMs();
      if (current) return current.keys;
      throw e;
    }
  }

  return async (header, token) => {
    let keys: JWTVerifyGetKey;
    if (current && nowMs() - current.at < DISCOVERY_CACHE_MS) keys = current.keys;
    else if (!current && nowMs() - failedAt < DISCOVERY_RETRY_COOLDOWN_MS)
      throw new Error(`discovery of ${issuer} failed recently; retrying after a cooldown`);
    else {
      pending ??= discover().finally(() => {
        pending = undefined;
      });
      keys = await pending;
    }
    return keys(header, token);
  };
}

async function fetchJwksUri(issuer: string, fetchPort: BoundedFetch): Promise<string> {
  const res = await fetchPort(`${issuer}/.well-known/openid-configuration`, {
    timeoutMs: JWKS_TIMEOUT_MS,
    maxBytes: JWKS_MAX_RESPONSE_BYTES,
    headers: { accept: 'application/json' },
    upstream: 'jwks',
  });
  if (res.status !== 200) throw new Error(`discovery of ${issuer} answered ${res.status}`);
  let doc: unknown;
  try {
    doc = JSON.parse(res.text);
  } catch {
    throw new Error(`discovery of ${issuer} is not JSON`);
  }
  if (!isRecord(doc)) throw new Error(`discovery of ${issuer} is not a JSON object`);
  // OpenID Connect Discovery 1.0 §4.3: the issuer in the document must be identical to the one asked.
  if (doc.issuer !== issuer) throw new Error(`discovery of ${issuer} names another issuer`);
  if (typeof doc.jwks_uri !== 'string') throw new Error(`discovery of ${issuer} has no jwks_uri`);
  let jwks: URL;
  try {
    jwks = new URL(doc.jwks_uri);
  } catch {
    throw new Error(`discovery of ${issuer} has an invalid jwks_uri`);
  }
  // AWS serves the keys beside the discovery document; a key set elsewhere is not trusted.
  if (jwks.origin !== new URL(issuer).origin)
    throw new Error(`discovery of ${issuer} points its jwks_uri to another origin`);
  return jwks.href;
}
