/**
 * Every magic number of the bridge, with its unit in the name and the reason beside it.
 * Values that an operator may want to tune are also exposed through configuration (src/config).
 */

/** RFC 8693 §2.1 grant type; the only grant `/token` accepts. */
export const GRANT_TYPE_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** RFC 8693 §3 token type identifiers, plus the AWS one Google's workload identity federation uses. */
export const TOKEN_TYPE = {
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
  idToken: 'urn:ietf:params:oauth:token-type:id_token',
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  aws4Request: 'urn:ietf:params:aws:token-type:aws4_request',
} as const;

/** The FIC audience Entra recommends for every workload identity federation (entra-agent-id.md §2.2). */
export const ENTRA_TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';
/** Scope of leg 1 and of the T2 request (entra-agent-id.md §1.a, §1.c). */
export const ENTRA_TOKEN_EXCHANGE_SCOPE = 'api://AzureADTokenExchange/.default';
/** First-party app id of "AAD Token Exchange Endpoint": the literal `aud` of T1 and T2 (§0). */
export const ENTRA_TOKEN_EXCHANGE_APP_ID = 'fb60f99c-7a34-4190-8149-302f77469936';
/** Real Entra's authority host; the emulator answers in its name. */
export const ENTRA_AUTHORITY_HOST = 'https://login.microsoftonline.com';

/** Bridge assertion lifetime: 5 min, matching AWS's default and Entra's advice for assertions (§2.4). */
export const ASSERTION_LIFETIME_SEC = 300;

/** Form body cap of POST /token and /explain; generous for a 16 KiB token plus the other fields. */
export const MAX_FORM_BODY_BYTES = 48 * 1024;
/** Cap on any single token or proof parameter. Entra user tokens with many groups stay under 16 KiB. */
export const MAX_TOKEN_BYTES = 16 * 1024;
/** Cap on any non-token parameter (resource, audience, agent_user). */
export const MAX_PARAM_BYTES = 1024;

/** Clock skew tolerated when verifying workload proofs. Vault's GCP auth uses 60 s. */
export const CLOCK_SKEW_SEC = 60;
/** Longest lifetime accepted for a workload JWT proof (Google ID tokens live 1 h). */
export const MAX_PROOF_TOKEN_AGE_SEC = 3600;

/** Renew cached Entra tokens this long before expiry: MSAL's own default offset (§5.4). */
export const TOKEN_RENEW_BEFORE_EXPIRY_SEC = 300;
/** Timeout of one call to Entra. */
export const ENTRA_TIMEOUT_MS = 10_000;
/** Attempts for one Entra call on 429/5xx/network failure (first try included). */
export const ENTRA_MAX_ATTEMPTS = 3;
/** Base of the exponential backoff between Entra retries; jittered. */
export const ENTRA_RETRY_BASE_MS = 200;
/** Never wait longer than this inside one request for an Entra Retry-After; beyond it, answer 503. */
export const ENTRA_MAX_INLINE_RETRY_AFTER_SEC = 2;
/** Byte cap on any Entra response body. */
export const ENTRA_MAX_RESPONSE_BYTES = 256 * 1024;

/** Timeout and byte cap for JWKS / discovery fetches (GCP certs, AWS issuers, n8n JWKS URLs). */
export const JWKS_TIMEOUT_MS = 5_000;
export const JWKS_MAX_RESPONSE_BYTES = 64 * 1024;
/** jose remote JWKS: cache keys this long, and refetch on an unknown kid at most once per cooldown. */
export const JWKS_CACHE_MAX_AGE_MS = 10 * 60_000;
export const JWKS_COOLDOWN_MS = 30_000;
/**
 * What a caller is told to wait when an issuer's keys cannot be fetched or used: the JWKS cooldown
 * above, so that the retry reaches a refetch rather than the same failure.
 */
export const VERIFIER_RETRY_AFTER_SEC = 30;

/** Where the bridge (and the sandbox) listens when PORT is not set. */
export const DEFAULT_PORT = 8787;
/** Audit detail text may quote caller-sent values: capped so one request cannot write a large line. */
export const AUDIT_DETAIL_MAX_CHARS = 512;
/** The same for each structured refusal field (claim, expected, received, host). */
export const AUDIT_FIELD_MAX_CHARS = 256;

/** Default per-principal rate limit of /token (requests per minute). */
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 600;
