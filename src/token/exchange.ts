/**
 * The hot path: parse → route, admit (src/limits/admission.ts) and verify the proof → rate limit →
 * policy → spend a single-use proof → agent token (cached). `explain` runs the same steps up to the
 * policy decision, only reads the replay store, and never calls Entra.
 */
import type { AuditEvent } from '../audit/audit.ts';
import { TOKEN_TYPE } from '../constants.ts';
import type { AgentTokenService } from '../entra/client.ts';
import { BridgeError } from '../errors.ts';
import { routingKeyOf, type AdmissionGuard, type RequestOrigin } from '../limits/admission.ts';
import { deniedAgent, deniedWorkload, EMPTY_DENY_LIST, type DenyList, type RuntimeDenyList } from '../policy/deny.ts';
import { evaluatePolicy, type CompiledPolicy, type EvaluateOptions, type PolicyDecision } from '../policy/policy.ts';
import {
  StoreUnavailableError,
  type RateLimiter,
  type ReplayStore,
  type SharedVerifiedProofs,
} from '../store/ports.ts';
import { sha256Hex } from '../util/hash.ts';
import {
  accept,
  type ProofInput,
  type Refusal,
  type VerifiedWorkload,
  type VerifyResult,
  type WorkloadVerifier,
} from '../verify/contract.ts';
import { decodeCompactJwt } from '../verify/jwt-decode.ts';
import { canonicalProofKey, exactProofKey, proofDigest } from '../verify/proof-key.ts';
import { verifiedProofUntil, type VerifiedProofCache } from '../verify/verified-cache.ts';
import type { TokenRequest } from './request.ts';

export interface ExchangeDeps {
  issuer: string;
  audience: string;
  verifiers: readonly WorkloadVerifier[];
  /** Read on every request: a reload (src/policy/reload.ts) replaces it without a restart. */
  policy: CompiledPolicy;
  /** The run-time kill switch besides the policy file's (Workers: the admin endpoint's list). */
  runtimeDeny?: RuntimeDenyList;
  agentTokens: AgentTokenService;
  replay: ReplayStore;
  rateLimiter: RateLimiter;
  clock: () => number;
  verifiedProofs: VerifiedProofCache;
  /** Node replicas on Redis: proofs another replica verified by an upstream call (docs/redis.md). */
  sharedProofs?: SharedVerifiedProofs;
  admission: AdmissionGuard;
}

export interface ExchangeResult {
  accessToken: string;
  expiresIn: number;
  scope: string;
  agentId: string;
}

const JWT_TYPES = new Set<string>([TOKEN_TYPE.jwt, TOKEN_TYPE.idToken]);

/**
 * Pick the verifier for a proof: by token type, then by the unverified issuer (routing only). A JWT
 * proof, whatever platform verifies it, must first be a strict compact JWS (one accepted spelling per
 * token, src/verify/compact-jws.ts); it is decoded here once and handed on decoded with the proof
 * (src/verify/jwt-decode.ts).
 */
function routeProof(
  verifiers: readonly WorkloadVerifier[],
  req: TokenRequest,
): { verifier: WorkloadVerifier; iss: string | undefined; proof: ProofInput } {
  let proof = req.proof;
  let iss: string | undefined;
  if (JWT_TYPES.has(proof.tokenType)) {
    const decoded = decodeCompactJwt(proof.token);
    if (!decoded.ok) throw bridgeErrorOf(decoded);
    const claimed = decoded.value.claims?.iss;
    iss = typeof claimed === 'string' ? claimed : undefined;
    proof = { ...proof, jwt: decoded.value };
  }
  const byType = verifiers.filter((v) => v.tokenTypes.includes(req.proof.tokenType));
  if (byType.length === 0)
    throw new BridgeError('proof_unsupported', `no enabled platform accepts ${req.proof.tokenType}`);
  if (proof.jwt !== undefined && iss === undefined)
    throw new BridgeError('proof_malformed', 'not a JWT with an iss claim');
  const chosen = byType.find((v) => v.accepts(proof, iss));
  if (!chosen)
    throw new BridgeError('proof_untrusted_issuer', `no enabled platform trusts issuer ${JSON.stringify(iss)}`, {
      fields: { claim: 'iss', received: JSON.stringify(iss) ?? 'absent' },
    });
  return { verifier: chosen, iss, proof };
}

/** Verify the proof, or recall that this exact proof verified a moment ago (see verified-cache.ts). */
async function verifyProof(
  deps: ExchangeDeps,
  req: TokenRequest,
  audit: AuditEvent,
  origin: RequestOrigin,
): Promise<VerifiedWorkload> {
  const now = deps.clock();
  // One digest per request: the cache key of this exact proof and the audit line's proof_sha256
  // (src/verify/proof-key.ts). A proof verified moments ago is found by it before anything in the
  // proof is decoded: routing depends only on the proof and the configuration, so it would pick the
  // verifier that verified it (canonical keys, e.g. AWS signed requests, live under another shape).
  // Nor is its shape checked again: only a text that passed routing's strict check and verified is
  // ever stored, so any other spelling of the same token misses here and is refused by routing.
  const proofSha256 = proofDigest(req.proof.token);
  const exactKey = exactProofKey(req.proof.tokenType, proofSha256);
  const recalled = deps.verifiedProofs.get(exactKey, now);
  if (recalled) {
    audit.platform = recalled.workload.platform;
    audit.proof_sha256 = recalled.proofSha256;
    audit.proof_verification = 'recalled';
    return recalled.workload;
  }
  const { verifier, iss, proof } = routeProof(deps.verifiers, req);
  audit.platform = verifier.platform;
  const cacheKey = verifiedProofKey(verifier, proof, exactKey);
  const cached = cacheKey === exactKey ? undefined : deps.verifiedProofs.get(cacheKey, now);
  if (cached) {
    audit.proof_sha256 = cached.proofSha256;
    audit.proof_verification = 'recalled';
    return cached.workload;
  }
  audit.proof_sha256 = proofSha256;
  const { result, notAfter, shared } = await deps.admission.verify(
    origin,
    routingKeyOf(verifier.platform, req.proof.tokenType, iss),
    () => verifyOrRecallShared(deps, verifier, proof, cacheKey, now),
    verifier.signingKeyId?.(proof),
  );
  if (!result.ok) throw bridgeErrorOf(result);
  audit.proof_verification = shared ? 'recalled_shared' : 'verified';
  if (!verifier.singleUse) {
    deps.verifiedProofs.set(cacheKey, result.value, proofSha256, now, notAfter);
    // The spelling that verified is remembered too, with the same expiry, so that presenting it again
    // is one lookup rather than a canonical key rebuilt (docs/performance.md): one more entry per proof.
    if (cacheKey !== exactKey) deps.verifiedProofs.set(exactKey, result.value, proofSha256, now, notAfter);
  }
  return result.value;
}

/**
 * Verify the proof, or, for a verifier whose verification is an upstream call, recall the workload
 * another replica verified (docs/redis.md#the-shared-verified-proof-cache): consulted only after the
 * in-process cache missed, inside the admission guard like any verification. A proof recalled is
 * remembered in-process no longer than the replica that verified it allowed (`notAfter`). A shared
 * cache that does not answer is a miss: the proof is verified, never refused for it.
 */
async function verifyOrRecallShared(
  deps: ExchangeDeps,
  verifier: WorkloadVerifier,
  proof: ProofInput,
  cacheKey: string,
  now: number,
): Promise<{ result: VerifyResult; notAfter?: number; shared?: true }> {
  const verify = () => verifier.verify(proof, { now, audience: deps.audience, issuer: deps.issuer });
  const shared = verifier.verifiedRemotely && !verifier.singleUse ? deps.sharedProofs : undefined;
  if (!shared) return { result: await verify() };
  // The bridge audience is part of what verified the proof (AWS: the signed audience header).
  const sharedKey = `${verifier.platform}\n${deps.audience}\n${cacheKey}`;
  const recalled = await shared.recall(sharedKey, verifier.platform, now);
  if (recalled) return { result: accept(recalled.workload), notAfter: recalled.until, shared: true };
  const result = await verify();
  if (result.ok) await shared.remember(sharedKey, result.value, verifiedProofUntil(result.value, now), now);
  return { result };
}

/** The verified-proof cache key: the verifier's canonical identity of the proof, else the exact key. */
function verifiedProofKey(verifier: WorkloadVerifier, proof: ProofInput, exactKey: string): string {
  if (!verifier.canonicalKey) return exactKey;
  const key = verifier.canonicalKey(proof);
  if (!key.ok) throw bridgeErrorOf(key);
  return canonicalProofKey(proof.tokenType, key.value);
}

function bridgeErrorOf(refusal: Refusal): BridgeError {
  return new BridgeError(refusal.reason, refusal.detail, {
    ...(refusal.retryAfterSec !== undefined ? { retryAfterSec: refusal.retryAfterSec } : {}),
    ...(refusal.fields ? { fields: refusal.fields } : {}),
    ...(refusal.publicDetail ? { publicDetail: refusal.publicDetail } : {}),
  });
}

/** `explain`: the decision carries its trace (/explain); /token does not build one. */
export async function verifyAndDecide(
  deps: ExchangeDeps,
  req: TokenRequest,
  audit: AuditEvent,
  origin: RequestOrigin = { address: undefined },
  opts: EvaluateOptions = {},
): Promise<{ workload: VerifiedWorkload; decision: PolicyDecision }> {
  audit.mode = req.mode;
  audit.resource = req.resource;
  if (req.agentUserRaw !== undefined) audit.agent_user = req.agentUserRaw;
  const w = await verifyProof(deps, req, audit, origin);
  Object.assign(audit, { proof_kind: w.proofKind, issuer: w.issuer, principal: w.principal, attributes: w.attributes });
  if (w.auditContext) audit.context = w.auditContext;

  const policy = deps.policy;
  const denyLists = await currentDenyLists(deps, policy);
  const deniedBy = deniedWorkload(denyLists, w);
  if (deniedBy)
    throw deniedByOperator(deniedBy, deniedBy === 'principals' ? w.principal : (w.attributes.instance_id ?? ''));

  const limit = await hitPrincipalLimit(deps.rateLimiter, principalLimitKey(w));
  if (!limit.allowed)
    throw new BridgeError('rate_limited', `principal over its rate limit`, { retryAfterSec: limit.retryAfterSec });

  const decision = evaluatePolicy(
    policy,
    w,
    {
      ...(req.agent !== undefined ? { agent: req.agent } : {}),
      resource: req.resource,
      mode: req.mode,
      ...(req.agentUserRaw !== undefined ? { agentUser: req.agentUserRaw } : {}),
    },
    opts,
  );
  if (decision.allowed)
    Object.assign(audit, {
      rule: decision.rule.name,
      tenant: decision.agent.tenantId,
      blueprint: decision.agent.blueprintId,
      agent: decision.agent.agentId,
    });
  else if (decision.rule) audit.rule = decision.rule;
  if (decision.allowed && deniedAgent(denyLists, decision.agent.agentId))
    throw deniedByOperator('agents', decision.agent.agentId);
  return { workload: w, decision };
}

/** The per-principal limit's key: the principal within its platform, and within its scope when it has one. */
function principalLimitKey(w: VerifiedWorkload): string {
  return w.principalScope === undefined
    ? `${w.platform}|${w.principal}`
    : `${w.platform}|${w.principalScope}\n${w.principal}`;
}

/** The policy file's deny list, plus the run-time one where the runtime has it (fails closed: 503). */
async function currentDenyLists(deps: ExchangeDeps, policy: CompiledPolicy): Promise<DenyList[]> {
  const fromFile = policy.deny ?? EMPTY_DENY_LIST;
  return deps.runtimeDeny ? [fromFile, await deps.runtimeDeny.current()] : [fromFile];
}

/** Audited as the kill switch with the list and the value; the caller gets the no-rule answer (src/errors.ts). */
function deniedByOperator(list: string, value: string): BridgeError {
  return new BridgeError('denied_by_operator', `on the operator's deny list (${list})`, {
    fields: { list, received: value },
  });
}

/** A full in-process limiter table refuses new principals with a reason of its own (503), never "rate limited". */
async function hitPrincipalLimit(limiter: RateLimiter, key: string): ReturnType<RateLimiter['hit']> {
  try {
    return await limiter.hit(key);
  } catch (e) {
    if (e instanceof StoreUnavailableError && e.condition === 'full')
      throw new BridgeError('rate_limiter_full', e.message, {
        retryAfterSec: e.retryAfterSec,
        fields: { limiter: 'principal' },
      });
    throw e;
  }
}

/** The replay store key of a single-use proof: one proof id per platform and issuer. */
function replayKey(w: VerifiedWorkload): string {
  return `${w.platform}:${w.issuer}:${w.proofId ?? ''}`;
}

/**
 * Spend a single-use proof, once a rule allowed it: a caller no rule matches spends nothing, so it
 * cannot fill the store. A store that cannot answer throws StoreUnavailableError (503).
 */
async function spendProof(deps: ExchangeDeps, w: VerifiedWorkload): Promise<void> {
  if (!w.singleUse) return;
  const answer = await deps.replay.markUsed(replayKey(w), w.singleUse.usableUntil, w.singleUse.partition);
  if (answer === 'replayed')
    throw new BridgeError('proof_replayed', `proof id ${w.proofId} was already used`, { fields: { claim: 'jti' } });
}

/** `/explain`: refuse a single-use proof that was already spent, without writing anything. */
export async function checkProofUnspent(deps: ExchangeDeps, w: VerifiedWorkload): Promise<void> {
  if (w.singleUse && (await deps.replay.isUsed(replayKey(w))))
    throw new BridgeError('proof_replayed', `proof id ${w.proofId} was already used`, { fields: { claim: 'jti' } });
}

export async function exchange(
  deps: ExchangeDeps,
  req: TokenRequest,
  audit: AuditEvent,
  origin: RequestOrigin = { address: undefined },
): Promise<ExchangeResult> {
  const { workload, decision } = await verifyAndDecide(deps, req, audit, origin);
  if (!decision.allowed) throw new BridgeError(decision.reason, decision.detail);
  await spendProof(deps, workload);

  const { token, fromCache } = await deps.agentTokens.acquire({
    tenantId: decision.agent.tenantId,
    blueprintId: decision.agent.blueprintId,
    ficSubject: decision.agent.ficSubject,
    agentId: decision.agent.agentId,
    mode: req.mode,
    scopes: req.scopes,
    ...(req.userToken !== undefined ? { userAssertion: req.userToken } : {}),
    ...(req.agentUser !== undefined ? { agentUser: req.agentUser } : {}),
    correlationId: audit.request_id,
  });
  audit.cache = fromCache ? 'hit' : 'miss';
  if (token.correlationId) audit.entra_correlation_id = token.correlationId;
  audit.token_sha256 = token.sha256 ?? sha256Hex(token.accessToken);
  return {
    accessToken: token.accessToken,
    expiresIn: Math.max(0, token.expiresAt - deps.clock()),
    scope: token.scope && req.mode !== 'autonomous' ? token.scope : req.scopes.join(' '),
    agentId: decision.agent.agentId,
  };
}
