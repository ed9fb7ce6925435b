/**
 * Entra failures → bridge reasons: unavailable/throttled → 503 with Retry-After; a tenant the
 * operator must fix → 502 `entra_configuration_error` naming the AADSTS code, the federated identity
 * credential (FIC) field to fix and its expected value; a user token Entra refuses → 400
 * `invalid_request` (RFC 8693 §2.2.2: an invalid subject_token MUST be invalid_request).
 *
 * AADSTS codes are Microsoft's (https://learn.microsoft.com/entra/identity-platform/reference-error-codes,
 * https://login.microsoftonline.com/error?code=<n>); the FIC codes are known from public captures
 * cited per row below. Microsoft warns that codes change, so an unknown code is never guessed at:
 * it becomes `entra_rejected` (502) with the code quoted.
 */
import { BridgeError } from '../errors.ts';
import { UpstreamError } from '../net/bounded-fetch.ts';
import { EntraHttpError } from './types.ts';

/** What the blueprint's FIC must say for the bridge's assertion to match it. */
export interface FicExpectation {
  /** BRIDGE_ISSUER. */
  issuer: string;
  /** The blueprint's ficSubject (policy); named in the audit log, never in a response. */
  subject: string;
  /** The cloud's token-exchange audience (Config.entra.tokenExchangeAudience). */
  audience: string;
  blueprintId: string;
}

type FicField = 'issuer' | 'subject' | 'audience';

interface OperatorHint {
  /** The FIC field to fix, when the code names one. */
  field?: FicField;
  /** Operator-facing text; may name the issuer and audience (public), never the subject (policy). */
  text: (fic: FicExpectation) => string;
}

const SUBJECT_WHERE = 'the ficSubject configured for this blueprint in the policy (its value is in the audit log)';
const UNREACHABLE = (fic: FicExpectation): string =>
  `Entra could not fetch ${fic.issuer}/.well-known/openid-configuration or the jwks_uri it names: both must be reachable from the internet over https with a publicly trusted certificate and no redirect`;

/** What the operator should fix, per AADSTS code. */
const OPERATOR_HINTS: Record<string, OperatorHint> = {
  // Legacy (2022-era) answer for any FIC mismatch, still sent while a new FIC propagates
  // (https://learn.microsoft.com/entra/workload-id/workload-identity-federation-considerations).
  '70021': {
    text: (f) =>
      `no federated identity credential on the blueprint matches the bridge assertion: register issuer = ${f.issuer}, audience = ${f.audience}, subject = ${SUBJECT_WHERE} (a new FIC can take minutes to propagate)`,
  },
  // https://github.com/Azure/azure-workload-identity/issues/1200 (invalid_client, "presented assertion issuer").
  '700211': {
    field: 'issuer',
    text: (f) =>
      `FIC issuer: no FIC on the blueprint has the bridge's issuer; set the FIC issuer to ${f.issuer} exactly (byte for byte, no trailing slash)`,
  },
  // A captured invalid_client answer in https://github.com/AthenZ/athenz (AzureAccessTokenProviderTest.java).
  '700212': {
    field: 'audience',
    text: (f) => `FIC audience: set the FIC audience to ${f.audience}, the token-exchange audience of this cloud`,
  },
  // Seen for Entra-issued (managed identity) assertions; same fix for the bridge's FIC.
  '7002121': {
    field: 'audience',
    text: (f) => `FIC audience: set the FIC audience to ${f.audience}, the token-exchange audience of this cloud`,
  },
  // MSAL.NET, https://github.com/AzureAD/microsoft-authentication-library-for-dotnet/blob/main/docs/fic-token-exchange-auto-resolution-design.md: another cloud's token-exchange audience.
  '70022204': {
    field: 'audience',
    text: (f) =>
      `FIC audience: the FIC and the bridge use the token-exchange audiences of different clouds; the bridge asserts ${f.audience} (ENTRA_TOKEN_EXCHANGE_AUDIENCE, or derived from ENTRA_AUTHORITY_HOST); set the FIC audience to it, or fix ENTRA_TOKEN_EXCHANGE_AUDIENCE for this cloud`,
  },
  // https://github.com/Azure/login/issues/482, https://github.com/dotnet/maui/pull/31978.
  '700213': { field: 'subject', text: () => `FIC subject: set the FIC subject to ${SUBJECT_WHERE}, exactly` },
  // https://github.com/microsoft/Agents/issues/202 (Entra-issued assertions; names the expected subject).
  '7002137': { field: 'subject', text: () => `FIC subject: set the FIC subject to ${SUBJECT_WHERE}, exactly` },
  // https://github.com/Azure/login/issues/515: the subject matches only case-insensitively.
  '7002138': {
    field: 'subject',
    text: () =>
      `FIC subject: the FIC subject differs from the bridge's only in letter case, and matching is case-sensitive; set it to ${SUBJECT_WHERE}`,
  },
  '70025': {
    text: (f) =>
      `the blueprint has no federated identity credentials: add one with issuer = ${f.issuer}, audience = ${f.audience}, subject = ${SUBJECT_WHERE}`,
  },
  // https://github.com/Azure/azure-workload-identity/pull/608 (90061), issues #642 and #1130 (50166),
  // https://github.com/Azure/login/issues/283 (501661): all observed for an issuer Entra cannot fetch;
  // Microsoft documents no difference between them.
  '90061': { field: 'issuer', text: UNREACHABLE },
  '50166': { field: 'issuer', text: UNREACHABLE },
  '501661': { field: 'issuer', text: UNREACHABLE },
  '900612': { text: (f) => `Entra could not parse the JWKS named by ${f.issuer}/.well-known/openid-configuration` },
  // https://github.com/MicrosoftDocs/azure-docs/issues/30777: no credential on a client_credentials request.
  '7000216': {
    text: () =>
      'Entra received no client assertion from the bridge: check for a proxy between the bridge and Entra that rewrites request bodies',
  },
  '7000218': {
    text: () =>
      'Entra received no client assertion from the bridge: check for a proxy between the bridge and Entra that rewrites request bodies',
  },
  '700027': {
    text: () =>
      'Entra could not verify the bridge assertion signature: is the current signing key published, with use "sig", in the JWKS Entra sees?',
  },
  '700024': { text: () => 'the bridge assertion was outside its validity window: check the bridge host clock' },
  '700016': {
    text: () =>
      'the blueprint or agent identity does not exist in this tenant, or the agent is not a child of the blueprint',
  },
  '7002111': { text: () => 'the agent identity is not a child of the blueprint that obtained T1' },
  '82001': { text: () => 'the blueprint may not request app-only tokens for this resource' },
  '90002': { text: () => 'the tenant id is unknown to Entra (is ENTRA_AUTHORITY_HOST the cloud of this tenant?)' },
  '900023': { text: () => 'the tenant id is malformed' },
  '500011': { text: () => 'the resource has no service principal in this tenant' },
  '70011': { text: () => 'the requested scope is invalid for this resource' },
  '1002012': { text: () => 'app-only requests for an agent must use <resource>/.default' },
  '700222': { text: () => 'the bridge issuer must not be an Entra host' },
  '50034': { text: () => 'the agent user does not exist or is not linked to this agent identity' },
};

/**
 * Codes that blame the user's token (or the user it names) when they answer the OBO exchange, each
 * with what the caller can do. From https://learn.microsoft.com/entra/identity-platform/reference-error-codes.
 * AADSTS50027 "invalid JWT" means the user token there, but the bridge's own assertion in leg 1.
 */
const USER_ASSERTION_CODES: Record<string, string> = {
  '500133': 'the user token has expired',
  '50013': 'the user token failed validation (signature, issuer or audience)',
  '500131': 'the user token was issued for another application: its audience must be the agent blueprint',
  '50027': 'the user token is not a well-formed JWT',
  '50132': 'the user session was revoked or expired: the user must sign in again',
  '50173': 'the user grant was revoked: the user must sign in again',
  '50076': 'the user must complete multifactor authentication and sign in again',
  '50079': 'the user must register for multifactor authentication and sign in again',
  '50158': 'the user must satisfy an external security challenge and sign in again',
  '53003': 'Conditional Access blocked this user',
  '50057': 'the user account is disabled',
  '50053': 'the user account is locked',
  '50105': 'the user is not assigned to the application',
};
const CONSENT_CODES = new Set(['65001']);

/** Which exchange failed: only the OBO exchange carries a token the caller supplied. */
export type EntraStage = { name: string; userAssertion: boolean; fic?: FicExpectation };

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
    if (e.status === 429)
      return new BridgeError('entra_throttled', `${stage}: ${e.message}`, {
        ...common,
        retryAfterSec: e.retryAfterSec ?? 5,
      });
    if (e.status >= 500 || e.status === 0) {
      return new BridgeError('entra_unavailable', `${stage}: ${e.message}`, {
        ...common,
        ...(e.retryAfterSec !== undefined ? { retryAfterSec: e.retryAfterSec } : {}),
      });
    }
    const userReason = stageInfo.userAssertion && e.aadsts ? USER_ASSERTION_CODES[e.aadsts] : undefined;
    if (userReason) {
      // What was wrong with the token the caller sent is theirs to know; the full Entra text stays in the audit.
      return new BridgeError('entra_user_assertion_invalid', `${stage}: ${e.message}`, {
        ...common,
        publicDetail: `AADSTS${e.aadsts}: ${userReason}.`,
        fields: { stage, entra_error: e.error },
      });
    }
    if (e.aadsts && CONSENT_CODES.has(e.aadsts)) {
      return new BridgeError('entra_consent_required', `${stage}: ${e.message}`, {
        ...common,
        publicDetail: `AADSTS65001: consent is missing for the requested scopes.`,
      });
    }
    return operatorError(e, stageInfo, common);
  }
  return new BridgeError('internal_error', `${stage}: ${(e as Error)?.message ?? String(e)}`);
}

/** 502: what the operator must fix, in the response (public facts only) and in the audit (all of it). */
function operatorError(
  e: EntraHttpError,
  stageInfo: EntraStage,
  common: { aadsts?: string; correlationId?: string },
): BridgeError {
  const stage = stageInfo.name;
  const hint = e.aadsts ? OPERATOR_HINTS[e.aadsts] : undefined;
  const fic = stageInfo.fic;
  const text = hint && fic ? hint.text(fic) : undefined;
  const code = e.aadsts ? `AADSTS${e.aadsts}` : `HTTP ${e.status} ${e.error}`;
  const publicDetail = `Entra refused ${stage} with ${code}${text ? `: ${text}` : ''}.${e.correlationId ? ` Correlation id ${e.correlationId}.` : ''}`;
  const fields: Record<string, string | undefined> = { stage, entra_error: e.error };
  if (fic && hint) {
    fields.blueprint = fic.blueprintId;
    if (hint.field) {
      fields.fic_field = hint.field;
      fields.expected = fic[hint.field];
    } else {
      fields.expected_issuer = fic.issuer;
      fields.expected_subject = fic.subject;
      fields.expected_audience = fic.audience;
    }
  }
  return new BridgeError(text ? 'entra_misconfigured' : 'entra_rejected', `${stage}: ${e.message}`, {
    ...common,
    publicDetail,
    fields,
  });
}

/** Whether another attempt may succeed (RFC 6749 gives no guidance; Entra's own advice is 429/5xx). */
export function isRetryable(e: unknown): boolean {
  if (e instanceof UpstreamError) return e.kind === 'timeout' || e.kind === 'network';
  if (e instanceof EntraHttpError) return e.status === 429 || e.status >= 500;
  return false;
}

/**
 * The AADSTS codes the bridge knows by name (the tables above): the only ones that may appear as a
 * metrics label (src/metrics/port.ts); any other code is reported as 'other', so a label's values
 * stay a fixed set whatever Entra answers.
 */
export const KNOWN_AADSTS_CODES: ReadonlySet<string> = new Set([
  ...Object.keys(OPERATOR_HINTS),
  ...Object.keys(USER_ASSERTION_CODES),
  ...CONSENT_CODES,
]);
