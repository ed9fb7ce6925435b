/**
 * Entra failures → bridge reasons (design.md §2): unavailable/throttled → 503 with Retry-After;
 * a tenant the operator must fix → 502 with the AADSTS code and what to do; a bad user token → 400.
 */
import { BridgeError } from '../errors.ts';
import { UpstreamError } from '../net/bounded-fetch.ts';
import { EntraHttpError } from './types.ts';

/** What the operator should check, per AADSTS code (entra-agent-id.md §2.2, §6.2). */
const OPERATOR_HINTS: Record<string, string> = {
  '70021': 'no federated identity credential on the blueprint matches the bridge assertion: register issuer = the bridge issuer URL (exact, no trailing slash difference), subject = the blueprint FIC subject from the policy, audience = api://AzureADTokenExchange (a new FIC can take minutes to propagate)',
  '700211': 'the FIC issuer does not match the bridge issuer URL exactly',
  '700212': 'the FIC audience must be api://AzureADTokenExchange',
  '700213': 'the FIC subject does not match the ficSubject configured for this blueprint (case-sensitive)',
  '70025': 'the blueprint has no federated identity credentials; register the bridge as one (README: registering the FIC)',
  '90061': 'Entra could not fetch the bridge discovery document or JWKS: the issuer URL must be public https',
  '900612': 'Entra could not parse the bridge JWKS',
  '700027': 'Entra could not verify the bridge assertion signature: is the current signing key published in the JWKS Entra sees?',
  '700024': 'the bridge assertion was outside its validity window: check the bridge host clock',
  '700016': 'the blueprint or agent identity does not exist in this tenant, or the agent is not a child of the blueprint',
  '7002111': 'the agent identity is not a child of the blueprint that obtained T1',
  '82001': 'the blueprint may not request app-only tokens for this resource',
  '90002': 'the tenant id is unknown to Entra',
  '900023': 'the tenant id is malformed',
  '500011': 'the resource has no service principal in this tenant',
  '70011': 'the requested scope is invalid for this resource',
  '1002012': 'app-only requests for an agent must use <resource>/.default',
  '700222': 'the bridge issuer must not be an Entra host',
  '50034': 'the agent user does not exist or is not linked to this agent identity',
};

/**
 * Codes that blame the user's token when they answer the OBO exchange (expired, wrong audience,
 * malformed). AADSTS50027 "invalid JWT" means the user token there, but the bridge's own assertion in leg 1.
 */
const USER_ASSERTION_CODES = new Set(['500133', '50013', '50132', '50173', '50027']);
const CONSENT_CODES = new Set(['65001']);

/** Which exchange failed: only the OBO exchange carries a token the caller supplied. */
export type EntraStage = { name: string; userAssertion: boolean };

export function toBridgeError(e: unknown, stageInfo: EntraStage): BridgeError {
  const stage = stageInfo.name;
  if (e instanceof BridgeError) return e;
  if (e instanceof UpstreamError) {
    if (e.kind === 'timeout') return new BridgeError('entra_timeout', `${stage}: ${e.message}`, { retryAfterSec: 5 });
    return new BridgeError('entra_unavailable', `${stage}: ${e.message}`, { retryAfterSec: 5 });
  }
  if (e instanceof EntraHttpError) {
    const common = {
      ...(e.aadsts ? { aadsts: e.aadsts } : {}),
      ...(e.correlationId ? { correlationId: e.correlationId } : {}),
    };
    if (e.status === 429) return new BridgeError('entra_throttled', `${stage}: ${e.message}`, { ...common, retryAfterSec: e.retryAfterSec ?? 5 });
    if (e.status >= 500 || e.status === 0) {
      return new BridgeError('entra_unavailable', `${stage}: ${e.message}`, { ...common, ...(e.retryAfterSec !== undefined ? { retryAfterSec: e.retryAfterSec } : {}) });
    }
    if (stageInfo.userAssertion && e.aadsts && USER_ASSERTION_CODES.has(e.aadsts)) return new BridgeError('entra_user_assertion_invalid', `${stage}: ${e.message}`, common);
    if (e.aadsts && CONSENT_CODES.has(e.aadsts)) {
      return new BridgeError('entra_consent_required', `${stage}: ${e.message}`, { ...common, publicDetail: `AADSTS65001: consent is missing for the requested scopes` });
    }
    const hint = e.aadsts ? OPERATOR_HINTS[e.aadsts] : undefined;
    const code = e.aadsts ? `AADSTS${e.aadsts}` : `HTTP ${e.status} ${e.error}`;
    const publicDetail = `Entra refused ${stage} with ${code}${hint ? `: ${hint}` : ''}.${e.correlationId ? ` Correlation id ${e.correlationId}.` : ''}`;
    return new BridgeError(hint ? 'entra_misconfigured' : 'entra_rejected', `${stage}: ${e.message}`, { ...common, publicDetail });
  }
  return new BridgeError('internal_error', `${stage}: ${(e as Error)?.message ?? String(e)}`);
}

/** Whether another attempt may succeed (RFC 6749 gives no guidance; Entra's own advice is 429/5xx). */
export function isRetryable(e: unknown): boolean {
  if (e instanceof UpstreamError) return e.kind === 'timeout' || e.kind === 'network';
  if (e instanceof EntraHttpError) return e.status === 429 || e.status >= 500;
  return false;
}
