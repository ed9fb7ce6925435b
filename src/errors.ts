/**
 * One closed set of refusal reasons, one mapping to the wire (RFC 6749 §5.2, RFC 8693 §2.2.2).
 * The wire gets a stable `error` and a generic description; the audit log gets the reason and detail.
 */
import type { StoreUnavailableError } from './store/ports.ts';

export type ReasonCode =
  // request shape (RFC 6749 §5.2 invalid_request)
  | 'unsupported_media_type'
  | 'body_too_large'
  | 'malformed_request'
  | 'duplicate_parameter'
  | 'missing_parameter'
  | 'parameter_too_large'
  | 'unsupported_grant_type'
  | 'unsupported_token_type'
  | 'unsupported_requested_token_type'
  | 'invalid_mode'
  | 'body_timeout'
  | 'client_aborted'
  // proof verification (RFC 8693 §2.2.2: an invalid subject/actor token is invalid_request)
  | 'proof_malformed'
  | 'proof_too_large'
  | 'proof_unsupported'
  | 'proof_untrusted_issuer'
  | 'proof_alg_not_allowed'
  | 'proof_signature'
  | 'proof_unknown_key'
  | 'proof_audience'
  | 'proof_audience_multiple'
  | 'proof_header_unsupported'
  | 'proof_typ_mismatch'
  | 'proof_expired'
  | 'proof_not_yet_valid'
  | 'proof_too_old'
  | 'proof_claim'
  | 'proof_replayed'
  | 'proof_rejected_upstream'
  // policy (invalid_target for targets; invalid_request when nothing matches the caller)
  | 'no_rule_matches'
  | 'agent_ambiguous'
  | 'agent_not_allowed'
  | 'resource_not_allowed'
  | 'multiple_resources'
  | 'multiple_audiences'
  | 'invalid_scope'
  | 'mode_not_allowed'
  | 'agent_user_not_allowed'
  // limits and upstream
  | 'rate_limited'
  | 'client_rate_limited'
  | 'credential_rate_limited'
  | 'issuer_rate_limited'
  | 'rate_limiter_full'
  | 'verification_busy'
  | 'verifier_unavailable'
  | 'verifier_redirected'
  | 'replay_store_unavailable'
  | 'replay_quota_exceeded'
  | 'rate_limit_store_unavailable'
  | 'deny_list_unavailable'
  | 'denied_by_operator'
  | 'entra_unavailable'
  | 'entra_throttled'
  | 'entra_timeout'
  | 'entra_misconfigured'
  | 'entra_user_assertion_invalid'
  | 'entra_consent_required'
  | 'entra_rejected'
  | 'internal_error';

interface WireShape {
  status: 400 | 408 | 415 | 413 | 429 | 500 | 502 | 503;
  error: string;
  description: string;
}

/** The single, exhaustive mapping. A new reason without an arm fails to compile. */
export function toWire(reason: ReasonCode): WireShape {
  switch (reason) {
    case 'unsupported_media_type':
      return {
        status: 400,
        error: 'invalid_request',
        description: 'The request body must be application/x-www-form-urlencoded.',
      };
    case 'body_too_large':
      return { status: 413, error: 'invalid_request', description: 'The request body is too large.' };
    case 'malformed_request':
      return { status: 400, error: 'invalid_request', description: 'The request body could not be parsed.' };
    case 'duplicate_parameter':
      return { status: 400, error: 'invalid_request', description: 'A request parameter was repeated.' };
    case 'missing_parameter':
      return { status: 400, error: 'invalid_request', description: 'A required request parameter is missing.' };
    case 'parameter_too_large':
      return { status: 400, error: 'invalid_request', description: 'A request parameter exceeds its size limit.' };
    case 'unsupported_grant_type':
      return {
        status: 400,
        error: 'unsupported_grant_type',
        description: 'grant_type must be urn:ietf:params:oauth:grant-type:token-exchange.',
      };
    case 'unsupported_token_type':
      return {
        status: 400,
        error: 'invalid_request',
        description: 'The token type is not supported for this position.',
      };
    case 'unsupported_requested_token_type':
      return { status: 400, error: 'invalid_request', description: 'Only access tokens can be requested.' };
    case 'invalid_mode':
      return {
        status: 400,
        error: 'invalid_request',
        description: 'The combination of parameters does not name a supported mode.',
      };
    case 'body_timeout':
      return { status: 408, error: 'invalid_request', description: 'The request body was not received in time.' };
    case 'client_aborted':
      // Written to a closed connection: no one reads it; the reason is for the audit log.
      return {
        status: 400,
        error: 'invalid_request',
        description: 'The client closed the connection before the request was complete.',
      };
    case 'proof_malformed':
    case 'proof_too_large':
    case 'proof_unsupported':
    case 'proof_untrusted_issuer':
    case 'proof_alg_not_allowed':
    case 'proof_signature':
    case 'proof_unknown_key':
    case 'proof_audience':
    case 'proof_audience_multiple':
    case 'proof_header_unsupported':
    case 'proof_typ_mismatch':
    case 'proof_expired':
    case 'proof_not_yet_valid':
    case 'proof_too_old':
    case 'proof_claim':
    case 'proof_replayed':
    case 'proof_rejected_upstream':
      // One generic text; a refusal may append what the caller controls (publicDetail).
      return { status: 400, error: 'invalid_request', description: 'The workload proof could not be verified.' };
    case 'no_rule_matches':
    // The kill switch (docs/operations.md#kill-switch) answers like a missing rule: a caller must not
    // learn that it, its agent or its n8n instance is on a deny list. The audit log says which.
    case 'denied_by_operator':
      return { status: 400, error: 'invalid_request', description: 'No trust policy rule allows this workload.' };
    case 'agent_ambiguous':
      return {
        status: 400,
        error: 'invalid_target',
        description: 'Several agent identities are allowed; name one with the audience parameter.',
      };
    case 'agent_not_allowed':
      return {
        status: 400,
        error: 'invalid_target',
        description: 'The requested agent identity is not allowed for this workload.',
      };
    case 'resource_not_allowed':
      return {
        status: 400,
        error: 'invalid_target',
        description: 'The requested resource is not allowed for this workload.',
      };
    case 'multiple_resources':
      return { status: 400, error: 'invalid_target', description: 'Exactly one resource may be requested.' };
    case 'multiple_audiences':
      return {
        status: 400,
        error: 'invalid_target',
        description: 'Exactly one agent identity (audience) may be requested.',
      };
    case 'invalid_scope':
      return {
        status: 400,
        error: 'invalid_target',
        description: 'The scope or resource parameter is missing or malformed.',
      };
    case 'mode_not_allowed':
      return {
        status: 400,
        error: 'invalid_target',
        description: 'The requested mode is not allowed for this workload.',
      };
    case 'agent_user_not_allowed':
      return {
        status: 400,
        error: 'invalid_target',
        description: 'The requested agent user is not allowed for this workload.',
      };
    case 'rate_limited':
      return {
        status: 429,
        error: 'temporarily_unavailable',
        description: 'Too many requests; retry after the indicated delay.',
      };
    case 'client_rate_limited':
      return {
        status: 429,
        error: 'temporarily_unavailable',
        description: 'Too many proofs from this client address; retry after the indicated delay.',
      };
    case 'credential_rate_limited':
      return {
        status: 429,
        error: 'temporarily_unavailable',
        description: 'Too many proofs signed with this credential; retry after the indicated delay.',
      };
    case 'issuer_rate_limited':
      return {
        status: 429,
        error: 'temporarily_unavailable',
        description: 'Too many proofs from this issuer right now; retry after the indicated delay.',
      };
    case 'rate_limiter_full':
      return {
        status: 503,
        error: 'temporarily_unavailable',
        description: 'The bridge is at its rate-limit capacity; retry after the indicated delay.',
      };
    case 'verification_busy':
      return {
        status: 503,
        error: 'temporarily_unavailable',
        description: 'The bridge is verifying as many proofs as it can; retry after the indicated delay.',
      };
    case 'verifier_unavailable':
      return {
        status: 503,
        error: 'temporarily_unavailable',
        description: 'The workload proof could not be checked right now; retry later.',
      };
    case 'verifier_redirected':
      // The platform's verifier (AWS STS) answered with a redirect, which it never does for its API:
      // not the caller's doing and not transient, so a bad-gateway answer without Retry-After.
      return {
        status: 502,
        error: 'server_error',
        description: 'The platform verifier answered with a redirect, which the bridge does not follow.',
      };
    case 'replay_store_unavailable':
    case 'rate_limit_store_unavailable':
    case 'deny_list_unavailable':
      // The bridge's own state is full or unreachable: fail closed, and never call it a replay.
      return {
        status: 503,
        error: 'temporarily_unavailable',
        description: 'The bridge cannot check requests right now; retry after the indicated delay.',
      };
    case 'replay_quota_exceeded':
      return {
        status: 503,
        error: 'temporarily_unavailable',
        description:
          'Too many single-use proofs from this issuer are still unexpired; retry after the indicated delay.',
      };
    case 'entra_unavailable':
    case 'entra_throttled':
    case 'entra_timeout':
      return {
        status: 503,
        error: 'temporarily_unavailable',
        description: 'Microsoft Entra is unavailable or throttling; retry later.',
      };
    case 'entra_misconfigured':
      return {
        status: 502,
        error: 'entra_configuration_error',
        description: 'Microsoft Entra refused the bridge; the operator must fix the tenant configuration.',
      };
    case 'entra_user_assertion_invalid':
      // RFC 8693 §2.2.2: an invalid or unacceptable subject_token MUST be invalid_request.
      return { status: 400, error: 'invalid_request', description: 'Microsoft Entra rejected the user token.' };
    case 'entra_consent_required':
      // RFC 6749 §5.2: the requested scope exceeds what the resource owner granted.
      return { status: 400, error: 'invalid_scope', description: 'Consent is missing for the requested scopes.' };
    case 'entra_rejected':
      return { status: 502, error: 'entra_error', description: 'Microsoft Entra refused the request.' };
    case 'internal_error':
      return { status: 500, error: 'server_error', description: 'Internal error.' };
  }
}

/**
 * A refusal with a stable reason. `detail` is for the audit log and operators; it is never
 * written to a caller unless `publicDetail` is set (used for operator-facing 502s that carry
 * the AADSTS code, as docs/architecture.md#the-entra-legs explains). Neither may contain a token.
 */
export class BridgeError extends Error {
  readonly reason: ReasonCode;
  readonly detail: string | undefined;
  readonly publicDetail: string | undefined;
  readonly retryAfterSec: number | undefined;
  readonly aadsts: string | undefined;
  readonly correlationId: string | undefined;
  /** Structured facts for the audit log (claim, expected, received, host); never secrets. */
  readonly fields: Readonly<Record<string, string | undefined>> | undefined;

  constructor(
    reason: ReasonCode,
    detail?: string,
    extra: {
      publicDetail?: string;
      retryAfterSec?: number;
      aadsts?: string;
      correlationId?: string;
      fields?: Readonly<Record<string, string | undefined>>;
    } = {},
  ) {
    super(detail ? `${reason}: ${detail}` : reason);
    this.name = 'BridgeError';
    this.reason = reason;
    this.detail = detail;
    this.publicDetail = extra.publicDetail;
    this.retryAfterSec = extra.retryAfterSec;
    this.aadsts = extra.aadsts;
    this.correlationId = extra.correlationId;
    this.fields = extra.fields;
  }
}

/**
 * The one mapping of a store that cannot answer (src/store/ports.ts) to the wire: 503 with the
 * store's own reason and Retry-After, the same on every runtime and for every backend.
 */
export function storeUnavailable(e: StoreUnavailableError): BridgeError {
  const fields = {
    store: e.store,
    condition: e.condition,
    ...(e.partition !== undefined ? { partition: e.partition } : {}),
  };
  let reason: ReasonCode =
    e.store === 'rate-limit'
      ? 'rate_limit_store_unavailable'
      : e.store === 'deny-list'
        ? 'deny_list_unavailable'
        : 'replay_store_unavailable';
  if (e.store === 'replay' && e.partition !== undefined) reason = 'replay_quota_exceeded';
  return new BridgeError(reason, e.message, { retryAfterSec: e.retryAfterSec, fields });
}
