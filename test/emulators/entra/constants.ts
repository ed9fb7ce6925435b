/**
 * Fixed identifiers and numbers of the Entra emulator, each with its source in
 * docs/entra.md (its sections are cited by name). [inf] marks an inference ("assumed" there), [3p] an observation.
 */

/** Real Entra's authority host; the emulator's tokens and discovery speak in its name by default. */
export const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com';

/** "AAD Token Exchange Endpoint", the first-party app behind api://AzureADTokenExchange: `aud` of T1 and T2 (docs/entra.md#objects-and-identifiers). */
export const TOKEN_EXCHANGE_APP_ID = 'fb60f99c-7a34-4190-8149-302f77469936';
/** The public cloud's token-exchange audience (the FIC audience and leg-1 resource there). */
export const TOKEN_EXCHANGE_URI = 'api://AzureADTokenExchange';
/**
 * Token-exchange audience per authority host: each cloud has its own, and a wrong one fails with
 * AADSTS70022204. Source: MSAL.NET KnownCloudConfiguration.cs
 * (https://github.com/AzureAD/microsoft-authentication-library-for-dotnet/blob/main/src/client/Microsoft.Identity.Client/Instance/Discovery/KnownCloudConfiguration.cs).
 */
export const TOKEN_EXCHANGE_URI_BY_HOST: Readonly<Record<string, string>> = {
  'login.microsoftonline.com': TOKEN_EXCHANGE_URI,
  'login.microsoftonline.us': 'api://AzureADTokenExchangeUSGov',
  'login.partner.microsoftonline.cn': 'api://AzureADTokenExchangeChina',
};
/** Every cloud's token-exchange audience starts so (same source: …USGov, …China, …France, …Germany, …USNat). */
export const TOKEN_EXCHANGE_URI_PREFIX = 'api://AzureADTokenExchange';

/** Microsoft Graph: the one resource a blueprint may ask for app-only without fmi_path (docs/entra.md#blueprint-only-tokens). */
export const GRAPH_URI = 'https://graph.microsoft.com';
export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';

export const CLIENT_ASSERTION_TYPE_JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const GRANT_JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** OIDC scopes a user flow may always add; they are Graph permissions, so they reach `scp` of Graph tokens only (docs/entra.md#token-claims). */
export const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);

/**
 * Hosts whose tokens are "AAD-issued" and may not be FIC assertions (AADSTS700222, docs/entra.md#federated-credential-matching). Real Entra
 * accepts managed-identity app tokens from these hosts; the emulator has no managed identities.
 */
export const ENTRA_ISSUER_HOSTS = new Set([
  'login.microsoftonline.com',
  'login.windows.net',
  'login.microsoft.com',
  'sts.windows.net',
]);

/** T1 and T2 live 3900 s (exp − iat) in both real captures (docs/entra.md#lifetimes). */
export const EXCHANGE_TOKEN_LIFETIME_SEC = 3900;
/**
 * App-only agent tokens for Microsoft Graph: exp − iat = 3900 s in two real captures reported by an
 * outside review, not the 29100 s of Microsoft's delegated agent-user example
 * (https://learn.microsoft.com/entra/agent-id/agent-token-claims). UNSURE: the captures are not
 * public, and real lifetimes vary per tenant policy; clients must rely on expires_in.
 */
export const APP_ONLY_AGENT_TOKEN_LIFETIME_SEC = 3900;
/** The user token Tc minted by ROPC: Entra's usual one-hour user token. */
export const USER_TOKEN_LIFETIME_SEC = 3599;
/** id_token lifetime: Entra issues one-hour id_tokens. */
export const ID_TOKEN_LIFETIME_SEC = 3600;
/**
 * [inf] Entra's `exp` carries about five minutes more than `expires_in` (T1: exp − iat = 3900 while
 * clients see ~3599), so clients renew before the token really lapses. Applied to lifetimes ≥ 3900 s.
 */
export const EXPIRES_IN_MARGIN_SEC = 301;
/** Tokens living longer than this get `refresh_in` (about half the lifetime), as Entra does (docs/entra.md#lifetimes). */
export const REFRESH_IN_THRESHOLD_SEC = 7200;

/**
 * Clock skew tolerated on assertion `exp`/`nbf` and on the emulator's own tokens. Entra's real skew is
 * undocumented (docs/entra.md#open-questions); five minutes is the common Microsoft identity-model default. [inf]
 */
export const CLOCK_SKEW_SEC = 300;
/**
 * Longest external assertion lifetime (exp − iat) Entra accepts: "AADSTS70023: External OIDC Provider
 * token must have a lifetime of less than or equal to 1.01:00:00" (a real response quoted in
 * MicrosoftDocs/azure-docs issue #86915). A missing `iat` counts as 0, which is how Entra
 * effectively requires `iat` (docs/entra.md#open-questions left this open).
 */
export const MAX_EXTERNAL_ASSERTION_LIFETIME_SEC = 25 * 3600;

/** External issuer discovery + JWKS cache lifetime. Entra's real TTL is undocumented (docs/entra.md#open-questions); [3p] says up to ~1 h. */
export const ISSUER_CACHE_TTL_SEC = 300;
/** Entra "stores only the first 100 signing keys" (docs/entra.md#federated-credential-matching, https://learn.microsoft.com/entra/workload-id/workload-identity-federation). */
export const MAX_ISSUER_SIGNING_KEYS = 100;
/** Bounds of one outbound fetch to an external issuer. */
export const ISSUER_FETCH_TIMEOUT_MS = 5000;
export const ISSUER_FETCH_MAX_BYTES = 64 * 1024;
