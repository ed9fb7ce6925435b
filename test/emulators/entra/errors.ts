/**
 * Entra's error table and wire shape (docs/entra.md#responses-and-error-bodies, docs/entra.md#error-codes).
 *
 * One row per AADSTS code: HTTP status, OAuth `error`, and the message text. Texts follow real
 * responses where one is known. Sources disagree on status and `error` for several codes (docs/entra.md#open-questions), so
 * rows marked UNCERTAIN are the emulator's choice: clients and tests should key on `error_codes`,
 * as Microsoft itself advises (https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
 */

export interface ErrorRow<A extends unknown[] = never[]> {
  status: number;
  error: string;
  message: (...args: A) => string;
}

const row = <A extends unknown[]>(status: number, error: string, message: (...args: A) => string): ErrorRow<A> => ({
  status,
  error,
  message,
});

const CERT_DOC =
  'Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .';

function isoTime(unixSec: number): string {
  return new Date(unixSec * 1000).toISOString().replace(/\.\d{3}Z$/, '.0000000Z');
}

export const ERRORS = {
  // ─── Tenant and request shape ───
  90002: row(
    400,
    'invalid_request',
    (tenant: string) =>
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
  ),
  900023: row(
    400,
    'invalid_request',
    (tenant: string) =>
      `Specified tenant identifier '${tenant}' is neither a valid DNS name, nor a valid external domain.`,
  ),
  // UNCERTAIN status/error: https://learn.microsoft.com/entra/identity-platform/reference-error-codes gives the code only.
  9001023: row(
    400,
    'invalid_request',
    () =>
      'The grant type is not supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.',
  ),
  900144: row(
    400,
    'invalid_request',
    (name: string) => `The request body must contain the following parameter: '${name}'.`,
  ),
  70003: row(
    400,
    'unsupported_grant_type',
    (grant: string) => `The app requested an unsupported grant type '${grant}'.`,
  ),

  // ─── Client lookup and client authentication ───
  700016: row(
    400,
    'unauthorized_client',
    (appId: string, tenant: string) =>
      `Application with identifier '${appId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
  ),
  7000218: row(
    401,
    'invalid_client',
    () => "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
  ),
  // No credential on a client_credentials request: this code and text, 401 invalid_client, in
  // https://github.com/MicrosoftDocs/azure-docs/issues/30777 and microsoftgraph/microsoft-graph-docs#6060.
  7000216: row(
    401,
    'invalid_client',
    () => "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
  ),
  // The emulator models no client secrets (blueprint secrets are for local development only, docs/entra.md#the-token-endpoint; agent
  // identities cannot hold credentials, docs/entra.md#objects-and-identifiers), so every presented secret is a bad one.
  7000215: row(
    401,
    'invalid_client',
    (appId: string) =>
      `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${appId}'.`,
  ),
  700025: row(
    401,
    'invalid_client',
    () => "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
  ),
  // UNCERTAIN status/error for a malformed client assertion.
  50027: row(400, 'invalid_request', () => 'JWT token is invalid or malformed.'),
  // Also used for `alg` other than RS256: docs say only RS256 is supported/tested (docs/entra.md#federated-credential-matching, docs/entra.md#open-questions); the code is [inf].
  700027: row(
    401,
    'invalid_client',
    (reason: string) => `Client assertion failed signature validation. [Reason - ${reason}]`,
  ),
  700024: row(
    401,
    'invalid_client',
    (now: number, nbf: number, exp: number) =>
      `Client assertion is not within its valid time range. Current time: ${isoTime(now)}, assertion valid from ${isoTime(nbf)}, expiry time of assertion ${isoTime(exp)}. ${CERT_DOC}`,
  ),
  70023: row(
    400,
    'invalid_request',
    (iat: number, exp: number) =>
      `External OIDC Provider token must have a lifetime of less than or equal to 1.01:00:00. Token issued at ${iat}. Token expires on ${exp}.`,
  ),

  // ─── Federated identity credentials (docs/entra.md#federated-credential-matching) ───
  70025: row(401, 'invalid_client', () => 'Client application has no configured federated identity credentials.'),
  // The 2022-era answer to any FIC mismatch, kept as the emulator's `ficErrors: 'legacy'` option:
  // 400 invalid_request in https://github.com/Azure/azure-workload-identity/blob/main/docs/book/src/troubleshooting.md
  // and issue #616. Also seen as 401 unauthorized_client; UNCERTAIN.
  70021: row(
    400,
    'invalid_request',
    (iss: string, sub: string, aud: string) =>
      `No matching federated identity record found for presented assertion. Assertion Issuer: '${iss}'. Assertion Subject: '${sub}'. Assertion Audience: '${aud}'. https://learn.microsoft.com/entra/workload-id/workload-identity-federation`,
  ),
  // Current answers name the field that failed, with invalid_client. The HTTP status is 401 as for
  // the same family in https://github.com/microsoft/Agents/issues/202; the captures below show no status.
  // Issuer: https://github.com/Azure/azure-workload-identity/issues/1200.
  700211: row(
    401,
    'invalid_client',
    (iss: string) =>
      `No matching federated identity record found for presented assertion issuer '${iss}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation`,
  ),
  // Audience: a captured answer in https://github.com/AthenZ/athenz (AzureAccessTokenProviderTest.java).
  700212: row(
    401,
    'invalid_client',
    (aud: string) =>
      `No matching federated identity record found for presented assertion audience '${aud}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation`,
  ),
  // Subject: https://github.com/Azure/login/issues/482, https://github.com/dotnet/maui/pull/31978.
  700213: row(
    401,
    'invalid_client',
    (sub: string) =>
      `No matching federated identity record found for presented assertion subject '${sub}'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation`,
  ),
  // Subject equal except for letter case: https://github.com/Azure/login/issues/515.
  7002138: row(
    401,
    'invalid_client',
    (sub: string) =>
      `No matching federated identity record found for presented assertion subject '${sub}'. The subject matches with case-insensitive comparison, but not with case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. See documentation at: https://learn.microsoft.com/entra/workload-id/workload-identity-federation.`,
  ),
  // Another cloud's token-exchange audience:
  // https://github.com/AzureAD/microsoft-authentication-library-for-dotnet/blob/main/docs/fic-token-exchange-auto-resolution-design.md (message text from there; status assumed as above).
  70022204: row(
    401,
    'invalid_client',
    (aud: string) => `No matching federated identity record found for presented assertion audience '${aud}'.`,
  ),
  // Not answered by the emulator: 7002121 (audience) and 7002137 (subject) are seen for Entra-issued
  // (managed identity) assertions (https://github.com/microsoft/Agents/issues/202), which the
  // emulator refuses earlier with AADSTS700222; the bridge still explains them (src/entra/errors.ts).
  // UNCERTAIN status/error.
  700222: row(400, 'invalid_request', () => 'AAD-issued tokens may not be used for federated identity flows.'),
  // An issuer Entra cannot fetch: 90061 (https://github.com/Azure/azure-workload-identity/pull/608),
  // 50166 (same repository, issues #642 and #1130) and 501661 (https://github.com/Azure/login/issues/283)
  // all carry this text and 400 invalid_request; no source says which Entra sends when, so the
  // emulator's choice is its `unreachableIssuerCode` option (default 90061).
  90061: row(400, 'invalid_request', (detail: string) => `Request to External OIDC endpoint failed. ${detail}`),
  50166: row(400, 'invalid_request', (detail: string) => `Request to External OIDC endpoint failed. ${detail}`),
  501661: row(400, 'invalid_request', (detail: string) => `Request to External OIDC endpoint failed. ${detail}`),
  // UNCERTAIN status/error; the code and text are [3p].
  900612: row(400, 'invalid_request', () => 'Failed to parse provider signing keys.'),

  // ─── Agent identity legs (docs/entra.md#autonomous-two-legs, docs/entra.md#error-codes) ───
  // [3p] seen on leg 2 when the blueprint id was used for the agent id; the meaning is undocumented and
  // the emulator uses it for every T1 ↔ client_id binding failure. UNCERTAIN status/error (docs/entra.md#open-questions).
  7002111: row(
    401,
    'invalid_client',
    (clientId: string, detail: string) =>
      `The presented token-exchange assertion is not valid for agent identity '${clientId}'. ${detail}`,
  ),
  // [3p] "many repos"; not in Learn's list (docs/entra.md#blueprint-only-tokens).
  82001: row(
    400,
    'unauthorized_client',
    (appId: string, resource: string) =>
      `Agentic application '${appId}' is not permitted to request app-only tokens for resource '${resource}'.`,
  ),

  // ─── Scopes and resources ───
  70011: row(
    400,
    'invalid_scope',
    (scope: string) =>
      `The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope ${scope} is not valid.`,
  ),
  // [3p] text (docs/entra.md#the-token-endpoint).
  1002012: row(
    400,
    'invalid_scope',
    (scope: string) =>
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
  ),
  500011: row(
    400,
    'invalid_resource',
    (resource: string, tenant: string) =>
      `The resource principal named ${resource} was not found in the tenant named ${tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
  ),

  // ─── User assertions and consent (OBO, user_fic, ROPC) ───
  500133: row(
    400,
    'invalid_grant',
    (now: number, exp: number) =>
      `Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token. Current time: ${isoTime(now)}, expiry time of assertion ${isoTime(exp)}.`,
  ),
  50013: row(
    400,
    'invalid_grant',
    (detail: string) => `Assertion failed signature validation or is not valid for this request. ${detail}`,
  ),
  65001: row(
    400,
    'invalid_grant',
    (appId: string) =>
      `The user or administrator has not consented to use the application with ID '${appId}'. Send an interactive authorization request for this user and resource.`,
  ),
  // user_fic: an unknown agent user, or one not linked to client_id, is [inf] (docs/entra.md#error-codes).
  50034: row(
    400,
    'invalid_grant',
    (user: string, tenant: string) =>
      `The user account ${user} does not exist in the ${tenant} directory. To sign into this application, the account must be added to the directory.`,
  ),
  50126: row(400, 'invalid_grant', () => 'Error validating credentials due to invalid username or password.'),

  // ─── Service health (faults) ───
  // Real client-credential throttling is a 429 + Retry-After whose body is often plain "Too Many
  // Requests"; user flows get invalid_grant AADSTS50196 (MSAL throttling docs). The emulator always
  // sends an Entra-shaped body with 50196 so that parsing clients see a stable code.
  50196: row(
    429,
    'temporarily_unavailable',
    () =>
      'The server terminated an operation because it encountered a client request loop. Please contact your app vendor.',
  ),
  50000: row(500, 'server_error', () => 'There was an error issuing a token or an issue with our sign-in service.'),
  90033: row(503, 'temporarily_unavailable', () => 'A transient error has occurred. Please try again.'),
} as const;

export type AadstsCode = keyof typeof ERRORS;
type ArgsOf<C extends AadstsCode> = Parameters<(typeof ERRORS)[C]['message']>;

/** The one throwable of the emulator's request handling: a row of ERRORS with its arguments filled in. */
export class EntraError extends Error {
  readonly code: number;
  readonly status: number;
  readonly error: string;
  readonly headers: Record<string, string>;
  constructor(code: number, status: number, error: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'EntraError';
    this.code = code;
    this.status = status;
    this.error = error;
    this.headers = headers;
  }
}

export function entraError<C extends AadstsCode>(code: C, ...args: ArgsOf<C>): EntraError {
  const r = ERRORS[code] as unknown as ErrorRow<ArgsOf<C>>;
  return new EntraError(code, r.status, r.error, r.message(...args));
}

export interface ErrorContext {
  now: number;
  correlationId: string;
  traceId: string;
  authorityHost: string;
}

/** "2024-12-03 13:51:30Z", the format of Entra's `timestamp` field and description line. */
export function entraTimestamp(unixSec: number): string {
  return new Date(unixSec * 1000)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');
}

/** The docs/entra.md#responses-and-error-bodies error body, byte for byte in shape: description lines joined with CRLF. */
export function errorBody(
  e: { code: number; error: string; message: string },
  ctx: ErrorContext,
): Record<string, unknown> {
  const timestamp = entraTimestamp(ctx.now);
  return {
    error: e.error,
    error_description: `AADSTS${e.code}: ${e.message}\r\nTrace ID: ${ctx.traceId}\r\nCorrelation ID: ${ctx.correlationId}\r\nTimestamp: ${timestamp}`,
    error_codes: [e.code],
    timestamp,
    trace_id: ctx.traceId,
    correlation_id: ctx.correlationId,
    error_uri: `${ctx.authorityHost}/error?code=${e.code}`,
  };
}
