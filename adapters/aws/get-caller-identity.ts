/**
 * Proof kind 1: a signed sts:GetCallerIdentity, checked without I/O, then forwarded to the
 * allow-listed STS host it was signed for (platform-proofs.md §A.1.7). The bridge rebuilds the
 * request itself — `https://<allow-listed host>/`, the fixed query or the checked body, only the
 * signed headers — so nothing the client wrote decides where the bridge connects.
 */
import { UpstreamError } from '../../src/net/bounded-fetch.ts';
import { sha256Hex } from '../../src/util/hash.ts';
import type { AdapterDeps, VerifiedWorkload, VerifyContext, VerifyResult, WorkloadVerifier } from '../../src/verify/contract.ts';
import { TOKEN_TYPE } from '../../src/constants.ts';
import { principalFromCallerArn, type AwsPrincipal } from './arn.ts';
import { GET_CALLER_IDENTITY_FORM, PROOF_KIND_SIGV4, SIGV4_CACHE_MAX_ENTRIES, STS_MAX_RESPONSE_BYTES, STS_RETRY_AFTER_SEC } from './constants.ts';
import { decodeProof, checkTarget } from './signed-request.ts';
import { checkSignedHeaders, type CheckedSignedRequest } from './sigv4.ts';
import { parseCallerIdentity, refusalFromStsError, type CallerIdentity, type StsRefusal } from './sts-response.ts';
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
  return {
    platform: 'aws',
    tokenTypes: [TOKEN_TYPE.aws4Request],
    accepts: () => true,
    async verify(input, ctx: VerifyContext): Promise<VerifyResult> {
      const decoded = decodeProof(input.token);
      if (!decoded.ok) return decoded;
      const target = checkTarget(decoded.value, opts.allowed);
      if (!target.ok) return target;
      const checked = await checkSignedHeaders(decoded.value, target.value, {
        audience: ctx.audience,
        now: ctx.now,
        maxRequestAgeSec: opts.maxRequestAgeSec,
        allowed: opts.allowed,
      });
      if (!checked.ok) return checked;
      const req = checked.value;
      const expiresAt = req.signedAt + opts.maxRequestAgeSec;

      const outcome = await cache.get<StsRefusal>(await requestHash(req), ctx.now, async () => {
        const answer = await callSts(req, opts, deps);
        return answer.ok ? { ok: true, value: answer.value, expiresAt } : { ok: false, result: answer };
      });
      if (!outcome.ok) return outcome.result;
      return { ok: true, workload: toWorkload(req, outcome.value, expiresAt, outcome.hit, sha256Hex(req.authorization.signature)) };
    },
  };
}

async function callSts(req: CheckedSignedRequest, opts: SigV4VerifierOptions, deps: AdapterDeps): Promise<{ ok: true; value: StsVerified } | StsRefusal> {
  const { endpoint } = req;
  const origin = opts.endpointOverride ?? `https://${endpoint.host}`;
  const url = `${origin}/${req.carrier === 'query' ? `?${GET_CALLER_IDENTITY_FORM}` : ''}`;
  const headers = opts.endpointOverride ? { ...req.forwardHeaders, 'x-forwarded-host': endpoint.host } : { ...req.forwardHeaders };
  let res;
  try {
    res = await deps.fetch(url, { method: 'POST', headers, body: req.body, timeoutMs: opts.stsTimeoutMs, maxBytes: STS_MAX_RESPONSE_BYTES });
  } catch (e) {
    if (e instanceof UpstreamError) return { ok: false, reason: 'verifier_unavailable', detail: `STS ${endpoint.host}: ${e.message}`, retryAfterSec: STS_RETRY_AFTER_SEC };
    throw e;
  }
  const contentType = res.headers.get('content-type');
  if (res.status !== 200) return refusalFromStsError(res.status, contentType, res.text, endpoint);
  const identity = parseCallerIdentity(contentType, res.text);
  if (!identity.ok) return identity.reason === 'verifier_unavailable' ? { ...identity, retryAfterSec: STS_RETRY_AFTER_SEC } : identity;
  const principal = principalFromCallerArn(identity.value.arn);
  if (!principal.ok) return principal;
  if (principal.value.account !== identity.value.account) return { ok: false, reason: 'proof_claim', detail: 'STS answered an Arn whose account is not the Account' };
  // An aws-cn host vouches for aws-cn principals only, and so on (§A.1.3).
  if (principal.value.partition !== endpoint.partition) return { ok: false, reason: 'proof_claim', detail: `STS ${endpoint.host} answered a principal of partition ${principal.value.partition}` };
  return { ok: true, value: { identity: identity.value, principal: principal.value } };
}

/** Everything the bridge would send, so two proofs share a cache entry only if STS would see the same request. */
async function requestHash(req: CheckedSignedRequest): Promise<string> {
  const headers = Object.entries(req.forwardHeaders).sort(([a], [b]) => (a < b ? -1 : 1));
  return sha256Hex(JSON.stringify([req.endpoint.host, req.carrier, req.body, headers]));
}

function toWorkload(req: CheckedSignedRequest, verified: StsVerified, expiresAt: number, cached: boolean, signatureHash: string): VerifiedWorkload {
  const uniqueId = verified.identity.userId.split(':')[0]!;
  return {
    platform: 'aws',
    proofKind: PROOF_KIND_SIGV4,
    issuer: `https://${req.endpoint.host}`,
    principal: verified.principal.principal,
    expiresAt,
    proofId: signatureHash,
    attributes: { ...verified.principal.attributes, unique_id: uniqueId },
    auditContext: { arn: verified.identity.arn, user_id: verified.identity.userId, sts_host: req.endpoint.host, sts_call: cached ? 'cached' : 'made' },
  };
}
