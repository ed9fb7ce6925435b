/**
 * Proof kind 1: a signed sts:GetCallerIdentity, checked without I/O, then forwarded to the
 * allow-listed STS host it was signed for (docs/platforms/aws.md#kind-1-wire-format). The bridge rebuilds the
 * request itself — `https://<allow-listed host>/`, the fixed query or the checked body, only the
 * signed headers — so nothing the client wrote decides where the bridge connects.
 */
import { UpstreamError } from '../../src/net/bounded-fetch.ts';
import { sha256Hex } from '../../src/util/hash.ts';
import {
  accept,
  refuse,
  type AdapterDeps,
  type ProofInput,
  type Refusal,
  type Result,
  type VerifiedWorkload,
  type VerifyContext,
  type VerifyResult,
  type WorkloadVerifier,
} from '../../src/verify/contract.ts';
import { TOKEN_TYPE } from '../../src/constants.ts';
import { principalFromCallerArn, type AwsPrincipal } from './arn.ts';
import {
  GET_CALLER_IDENTITY_FORM,
  PROOF_KIND_SIGV4,
  SIGV4_CACHE_MAX_ENTRIES,
  STS_MAX_RESPONSE_BYTES,
  STS_RETRY_AFTER_SEC,
} from './constants.ts';
import { decodeProof, checkTarget } from './signed-request.ts';
import { checkSignedHeaders, rebuildSignedRequest, rebuiltRequestKey, type CheckedSignedRequest } from './sigv4.ts';
import { parseCallerIdentity, refusalFromStsError, type CallerIdentity } from './sts-response.ts';
import type { StsEndpoint } from './sts-hosts.ts';
import { VerificationCache } from './verification-cache.ts';

export interface SigV4VerifierOptions {
  /** The STS hosts a proof may be signed for (./sts-hosts.ts). */
  allowed: ReadonlyMap<string, StsEndpoint>;
  maxRequestAgeSec: number;
  stsTimeoutMs: number;
  /**
   * Sandbox and tests only (config refuses it elsewhere): the loopback origin STS calls really go
   * to. The host the proof was signed for still has to pass the allow-list, and travels to the
   * emulator in `x-forwarded-host` because fetch cannot set `Host`.
   */
  endpointOverride?: string;
}

interface StsVerified {
  identity: CallerIdentity;
  principal: AwsPrincipal;
}

export function createSigV4Verifier(opts: SigV4VerifierOptions, deps: AdapterDeps): WorkloadVerifier {
  const cache = new VerificationCache<StsVerified>(SIGV4_CACHE_MAX_ENTRIES);
  deps.registerCache?.('aws_sts_verification', () => cache.stats);
  return {
    platform: 'aws',
    tokenTypes: [TOKEN_TYPE.aws4Request],
    accepts: () => true,
    canonicalKey: (input) => canonicalKey(input, opts.allowed),
    signingKeyId: (input) => accessKeyIdOf(input),
    // One STS round trip per proof: worth sharing between replicas (docs/redis.md#the-shared-verified-proof-cache).
    verifiedRemotely: true,
    async verify(input, ctx: VerifyContext): Promise<VerifyResult> {
      const decoded = decodeProof(input.token);
      if (!decoded.ok) return decoded;
      const target = checkTarget(decoded.value, opts.allowed);
      if (!target.ok) return target;
      const checked = checkSignedHeaders(decoded.value, target.value, {
        audience: ctx.audience,
        now: ctx.now,
        maxRequestAgeSec: opts.maxRequestAgeSec,
        allowed: opts.allowed,
      });
      if (!checked.ok) return checked;
      const req = checked.value;
      const expiresAt = req.signedAt + opts.maxRequestAgeSec;

      const outcome = await cache.get<Refusal>(rebuiltRequestKey(req), ctx.now, async () => {
        const answer = await callSts(req, opts, deps);
        return answer.ok ? { ok: true, value: answer.value, expiresAt } : { ok: false, result: answer };
      });
      if (!outcome.ok) return outcome.result;
      return accept(toWorkload(req, outcome.value, expiresAt, outcome.hit, sha256Hex(req.authorization.signature)));
    },
  };
}

/** The access key id a signed request names in its Authorization header (unverified; for counting only). */
function accessKeyIdOf(input: ProofInput): string | undefined {
  const decoded = decodeProof(input.token);
  if (!decoded.ok) return undefined;
  const auth = decoded.value.headers.find((h) => h.key.toLowerCase() === 'authorization')?.value;
  return auth === undefined ? undefined : /\bCredential=([A-Z0-9]{16,128})\//.exec(auth)?.[1];
}

/**
 * The proof's identity for the bridge's verified-proof cache: the request the bridge would forward.
 * Spellings of one signed request (URL-encoded or bare JSON, header order and case, the unsigned
 * headers a signer leaves out) share it, so they cost one cache entry, not one each.
 */
function canonicalKey(input: ProofInput, allowed: ReadonlyMap<string, StsEndpoint>): Result<string> {
  // The first steps of verify, so a refusal here is the one verify would give.
  const decoded = decodeProof(input.token);
  if (!decoded.ok) return decoded;
  const target = checkTarget(decoded.value, allowed);
  if (!target.ok) return target;
  const rebuilt = rebuildSignedRequest(decoded.value, target.value);
  return rebuilt.ok ? accept(rebuiltRequestKey(rebuilt.value)) : rebuilt;
}

async function callSts(
  req: CheckedSignedRequest,
  opts: SigV4VerifierOptions,
  deps: AdapterDeps,
): Promise<Result<StsVerified>> {
  const { endpoint } = req;
  const origin = opts.endpointOverride ?? `https://${endpoint.host}`;
  const url = `${origin}/${req.carrier === 'query' ? `?${GET_CALLER_IDENTITY_FORM}` : ''}`;
  const headers = opts.endpointOverride
    ? { ...req.forwardHeaders, 'x-forwarded-host': endpoint.host }
    : { ...req.forwardHeaders };
  let res;
  try {
    // The body exactly as signed; none at all in query form, so the HTTP client adds no Content-Type
    // the workload did not sign (fetch types a string body as text/plain).
    res = await deps.fetch(url, {
      method: 'POST',
      headers,
      ...(req.body !== '' ? { body: req.body } : {}),
      timeoutMs: opts.stsTimeoutMs,
      maxBytes: STS_MAX_RESPONSE_BYTES,
      upstream: 'sts',
    });
  } catch (e) {
    if (e instanceof UpstreamError && e.kind === 'redirect') {
      // STS answers its API with 200 or an error document, never a redirect
      // (https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html). A redirect is the
      // answer of something in front of the endpoint: not the caller's doing, so not 4xx; and not
      // transient, so not 503 with Retry-After. 502: an upstream answered what the bridge cannot use.
      return refuse('verifier_redirected', `STS ${endpoint.host}: ${e.message}`, { fields: { host: endpoint.host } });
    }
    if (e instanceof UpstreamError)
      return refuse('verifier_unavailable', `STS ${endpoint.host}: ${e.message}`, {
        fields: { host: endpoint.host },
        retryAfterSec: STS_RETRY_AFTER_SEC,
      });
    throw e;
  }
  const contentType = res.headers.get('content-type');
  if (res.status !== 200) return refusalFromStsError(res.status, contentType, res.text, endpoint);
  const identity = parseCallerIdentity(contentType, res.text);
  if (!identity.ok)
    return identity.reason === 'verifier_unavailable'
      ? { ...identity, retryAfterSec: STS_RETRY_AFTER_SEC, fields: { host: endpoint.host } }
      : identity;
  const principal = principalFromCallerArn(identity.value.arn);
  if (!principal.ok) return principal;
  if (principal.value.account !== identity.value.account) {
    return refuse('proof_claim', 'STS answered an Arn whose account is not the Account', {
      fields: {
        host: endpoint.host,
        claim: 'Account',
        expected: principal.value.account,
        received: identity.value.account,
      },
    });
  }
  // An aws-cn host vouches for aws-cn principals only, and so on (docs/platforms/aws.md#what-the-bridge-checks-and-why).
  if (principal.value.partition !== endpoint.partition) {
    return refuse(
      'proof_claim',
      `STS ${endpoint.host} answered a principal of partition ${principal.value.partition}`,
      {
        fields: {
          host: endpoint.host,
          claim: 'partition',
          expected: endpoint.partition,
          received: principal.value.partition,
        },
      },
    );
  }
  return accept({ identity: identity.value, principal: principal.value });
}

function toWorkload(
  req: CheckedSignedRequest,
  verified: StsVerified,
  expiresAt: number,
  cached: boolean,
  signatureHash: string,
): VerifiedWorkload {
  const uniqueId = verified.identity.userId.split(':')[0]!;
  return {
    platform: 'aws',
    proofKind: PROOF_KIND_SIGV4,
    issuer: `https://${req.endpoint.host}`,
    principal: verified.principal.principal,
    expiresAt,
    proofId: signatureHash,
    attributes: { ...verified.principal.attributes, unique_id: uniqueId },
    auditContext: {
      arn: verified.identity.arn,
      user_id: verified.identity.userId,
      sts_host: req.endpoint.host,
      sts_call: cached ? 'cached' : 'made',
    },
  };
}
