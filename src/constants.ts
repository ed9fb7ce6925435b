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

/**
 * The token-exchange audience of each Entra cloud, by authority host: the `aud` of the bridge's
 * assertions, the audience of the blueprint's FIC, and (with `/.default`) the scope of leg 1 and of
 * the T2 request. A wrong one passes leg 1 and fails later with AADSTS70022204. Sources:
 * MSAL.NET KnownCloudConfiguration.cs (https://github.com/AzureAD/microsoft-authentication-library-for-dotnet/blob/main/src/client/Microsoft.Identity.Client/Instance/Discovery/KnownCloudConfiguration.cs)
 * and https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity
 * (global, US Government, China). Other clouds: set ENTRA_TOKEN_EXCHANGE_AUDIENCE.
 */
export const ENTRA_TOKEN_EXCHANGE_AUDIENCE_BY_HOST: Readonly<Record<string, string>> = {
  'login.microsoftonline.com': 'api://AzureADTokenExchange',
  'login.microsoftonline.us': 'api://AzureADTokenExchangeUSGov',
  'login.partner.microsoftonline.cn': 'api://AzureADTokenExchangeChina',
};
/** The public cloud's token-exchange audience, Entra's recommended FIC audience there. */
export const ENTRA_PUBLIC_TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';
/** Longest FIC audience Entra stores (Graph federatedIdentityCredential: 600 characters). */
export const MAX_FIC_AUDIENCE_CHARS = 600;
/** First-party app id of "AAD Token Exchange Endpoint": the literal `aud` of T1 and T2 (docs/entra.md#objects-and-identifiers). */
export const ENTRA_TOKEN_EXCHANGE_APP_ID = 'fb60f99c-7a34-4190-8149-302f77469936';
/** Real Entra's authority host; the emulator answers in its name. */
export const ENTRA_AUTHORITY_HOST = 'https://login.microsoftonline.com';

/** Bridge assertion lifetime: 5 min, matching AWS's default and Entra's advice for assertions (docs/architecture.md#the-leg-1-assertion). */
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

/** Renew cached Entra tokens this long before expiry: MSAL's own default offset (docs/entra.md#caching). */
export const TOKEN_RENEW_BEFORE_EXPIRY_SEC = 300;
/**
 * When renewing a cached Entra token fails, the old one is still served if it has at least this
 * long to live: with less, it would likely expire before the caller's request reaches the resource,
 * and an honest 503 with Retry-After lets the client retry instead.
 */
export const STALE_TOKEN_MIN_REMAINING_SEC = 60;

/*
 * Cache bounds (src/util/expiring-cache.ts; the table of caches is in docs/architecture.md).
 * Bytes are estimated at one per character of every string an entry holds (tokens and keys are
 * ASCII, which V8 stores one byte per character) plus CACHE_ENTRY_OVERHEAD_BYTES.
 */
/**
 * Longest cache key kept. V8 (Node and workerd) hashes a longer string by its length alone
 * (GetTrivialHash in https://github.com/v8/v8/blob/main/src/strings/string-hasher-inl.h), so
 * such keys of one length would all share one hash bucket and every lookup would compare them
 * in full: keys past this are never cached.
 */
export const MAX_CACHE_KEY_CHARS = 16_383;
/** Map slot, entry record, value object and list links of one entry, rounded up. */
export const CACHE_ENTRY_OVERHEAD_BYTES = 256;
/**
 * How long a verified proof is remembered at most, so that a key its issuer withdraws stops being
 * honoured within this window even for proofs that live longer (a GCP ID token lives an hour).
 */
export const VERIFIED_PROOF_TTL_SEC = 300;
/** Verified proofs remembered: 10 000 workloads each re-presenting a token within the TTL. */
export const VERIFIED_PROOF_CACHE_MAX_ENTRIES = 10_000;
/**
 * Bytes of verified proofs remembered; the key is the whole proof. 10 000 GCP ID tokens of about
 * 1 KiB with their workloads fit; proofs padded towards the 16 KiB token cap fill it with about
 * 2 000 entries instead of holding over 150 MiB at 10 000.
 */
export const VERIFIED_PROOF_CACHE_MAX_BYTES = 32 * 1024 * 1024;
/**
 * Entra tokens cached per AgentTokenService cache (T1s; resource tokens and T2s). One entry per
 * (tenant, agent, scopes) and, in OBO and agent-user modes, per user: 10 000 users of one bridge
 * within a token's hour.
 */
export const ENTRA_TOKEN_CACHE_MAX_ENTRIES = 10_000;
/** Bytes of Entra tokens cached per cache: 10 000 tokens of 4 KiB (an access token with group claims) and their keys. */
export const ENTRA_TOKEN_CACHE_MAX_BYTES = 64 * 1024 * 1024;
/**
 * Agent tokens a client (src/client, in the workload's process) caches: one per (resource, scope,
 * agent, agent user) and, in OBO mode, per user token; a workload uses a handful of shapes.
 */
export const CLIENT_TOKEN_CACHE_MAX_ENTRIES = 1_000;
/** Bytes of agent tokens a client caches; the key holds the user token in OBO mode. Small enough for a 128 MiB Lambda. */
export const CLIENT_TOKEN_CACHE_MAX_BYTES = 8 * 1024 * 1024;
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

/**
 * Replay store (single-use proofs, n8n jti): unexpired keys held at most in one process. n8n
 * assertions live at most 300 s + 60 s skew, so this is about 280 fresh assertions per second.
 */
export const REPLAY_MAX_ENTRIES = 100_000;
/**
 * Default quota of one issuer (one n8n instance) in the replay store, BRIDGE_REPLAY_QUOTA_PER_ISSUER:
 * a tenth of the store, so one instance (or whoever holds its key) cannot lock the others out.
 */
export const REPLAY_QUOTA_PER_ISSUER = 10_000;
/** What a caller is told to wait when its issuer's quota is full: entries expire within 360 s. */
export const REPLAY_FULL_RETRY_AFTER_SEC = 30;

/** Where the bridge (and the sandbox) listens when PORT is not set. */
export const DEFAULT_PORT = 8787;
/** Audit detail text may quote caller-sent values: capped so one request cannot write a large line. */
export const AUDIT_DETAIL_MAX_CHARS = 512;
/** The same for each structured refusal field (claim, expected, received, host). */
export const AUDIT_FIELD_MAX_CHARS = 256;
/**
 * Audit lines buffered on Node before a write is forced (src/audit/line-writer.ts). A line is under
 * 2 KiB, so this is hundreds of decisions: a turn of the event loop rarely produces more, and the
 * memory held is bounded whatever the rate.
 */
export const AUDIT_BUFFER_MAX_BYTES = 256 * 1024;

/** Default per-principal rate limit of /token (requests per minute). */
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 600;

/**
 * Bounds of the compact JWS segments of a JWT proof, checked before routing or any cache
 * (src/verify/compact-jws.ts). A JOSE header of these proofs is under 300 characters (alg, kid,
 * typ); 1 KiB leaves room without letting the header carry a payload.
 */
export const MAX_JWS_HEADER_CHARS = 1024;
/** The longest signature an accepted alg produces: RS256 with an 8192-bit key is 1024 bytes, 1366 base64url characters. */
export const MAX_JWS_SIGNATURE_CHARS = 1366;

/**
 * Front-door limits (src/limits/): checked before a proof is verified, so a caller who matches no
 * rule cannot make the bridge spend STS round trips, JWKS fetches or signature checks without bound.
 * Defaults are far above what agents need (they cache their Entra token for about an hour) and
 * low enough that one address cannot drive thousands of upstream calls.
 */
/**
 * Proof verifications per minute from one client address (IPv6: one /64); a proof answered from
 * the verified-proof cache is not counted. Hundreds of agents behind one NAT address stay far below.
 */
export const DEFAULT_CLIENT_RATE_LIMIT_PER_MINUTE = 600;
/**
 * Proof verifications per minute per credential a proof names as its signer (an AWS access key id).
 * A workload signs a proof, the bridge remembers it verified for its lifetime and the client keeps
 * its Entra token for about an hour: one credential needs a handful a minute, not hundreds.
 */
export const DEFAULT_CREDENTIAL_RATE_LIMIT_PER_MINUTE = 60;
/**
 * Proof verifications per minute per unverified routing key (the JWT `iss`; STS for signed
 * requests). A bound on the work many addresses together can cause, not a throttle: when a flood
 * reaches it, that issuer's new proofs wait for the next minute (proofs already verified do not).
 */
export const DEFAULT_ISSUER_RATE_LIMIT_PER_MINUTE = 30_000;
/** Proof verifications in flight at once per routing key (STS round trips, JWKS fetches, signature checks). */
export const DEFAULT_MAX_CONCURRENT_VERIFICATIONS = 64;
/** Retry-After when every verification slot is taken: slots free up within an STS timeout. */
export const VERIFICATION_BUSY_RETRY_AFTER_SEC = 1;
/**
 * Keys one rate-limit table holds per one-minute window (per limiter). At about 100 bytes a key
 * this caps each table near 10 MiB; a new key beyond it is refused until the window turns.
 */
export const DEFAULT_RATE_LIMIT_MAX_KEYS = 100_000;
/** Rate-limit window length; every limiter counts in fixed windows of this size. */
export const RATE_LIMIT_WINDOW_SEC = 60;

/**
 * Node server limits (src/node.ts). A slowly sent request holds a descriptor: every phase of
 * reading it has a deadline, and the number of open connections is capped below typical
 * descriptor limits so outbound calls (STS, JWKS, Entra) and /healthz keep working.
 */
/** Time to receive the request headers (Node's server.headersTimeout). */
export const NODE_HEADERS_TIMEOUT_MS = 10_000;
/** Time to read a request body once the handler asks for it (src/token/form.ts). */
export const BODY_READ_DEADLINE_MS = 10_000;
/** Node's own backstop for the whole request (server.requestTimeout), after the body deadline. */
export const NODE_REQUEST_TIMEOUT_MS = 15_000;
/** How often Node checks the two timeouts above (its default is 30 s, which would triple them). */
export const NODE_TIMEOUT_CHECK_INTERVAL_MS = 1_000;
/** Open connections accepted at once (server.maxConnections); further ones are closed at once. */
export const DEFAULT_MAX_CONNECTIONS = 512;
/**
 * After answering a request whose body was not read to the end (413, 408), the connection is
 * closed: the answer carries `Connection: close`, the write side is shut, and what the client
 * still sends is read and discarded for at most this long / this many bytes, so it reads the
 * answer rather than a reset (RFC 9112 §9.6).
 */
export const LINGER_CLOSE_MS = 2_000;
export const LINGER_CLOSE_MAX_BYTES = 1024 * 1024;

/**
 * Policy file reload on Node (docs/operations.md#kill-switch): editors and Kubernetes ConfigMap
 * updates write a file in several steps (truncate + write, or a symlink swap), each an fs.watch
 * event; wait this long after the last one before reading, so a half-written file is not read.
 */
export const POLICY_RELOAD_DEBOUNCE_MS = 250;
/**
 * Workers kill switch (src/store/durable/deny-list.ts): an isolate re-reads the admin endpoint's
 * deny list at most this often. An update takes effect at once in the isolate that received it and
 * within this delay everywhere else; a read that fails refuses requests (503), never skips the list.
 */
export const DENY_LIST_REFRESH_MS = 5_000;
/** Largest deny list body the admin endpoint accepts (an incident list, not a directory). */
export const DENY_LIST_MAX_BYTES = 64 * 1024;
/** Shortest BRIDGE_ADMIN_TOKEN accepted: 32 characters of `openssl rand -base64 32` carry about 190 bits. */
export const ADMIN_TOKEN_MIN_CHARS = 32;

/**
 * How long Entra may keep a FIC issuer's signing keys after fetching its JWKS. Undocumented; reports
 * say up to about an hour (docs/entra.md, "Assumptions"). A next key must be published at least this
 * long before it signs (docs/operations.md#rotating-the-signing-key).
 */
export const ENTRA_ISSUER_KEYS_CACHE_MAX_SEC = 3_600;
/** What `agent-id-bridge keys rotate` advises between publishing and promoting: a day, well over the hour above. */
export const KEY_ROTATION_PUBLISH_AHEAD_SEC = 24 * 3_600;
/** Cache-Control max-age of the bridge's own JWKS answer: short, so a published next key is seen promptly. */
export const JWKS_RESPONSE_MAX_AGE_SEC = 300;

/**
 * Microsoft Graph's root per Entra cloud, for `agent-id-bridge fic`
 * (https://learn.microsoft.com/graph/deployments); the token-exchange audience of each cloud is
 * ENTRA_TOKEN_EXCHANGE_AUDIENCE_BY_HOST above.
 */
export const ENTRA_CLOUDS: Readonly<Record<string, { authorityHost: string; graph: string }>> = {
  global: { authorityHost: 'https://login.microsoftonline.com', graph: 'https://graph.microsoft.com' },
  usgov: { authorityHost: 'https://login.microsoftonline.us', graph: 'https://graph.microsoft.us' },
  'usgov-dod': { authorityHost: 'https://login.microsoftonline.us', graph: 'https://dod-graph.microsoft.us' },
  china: {
    authorityHost: 'https://login.partner.microsoftonline.cn',
    graph: 'https://microsoftgraph.chinacloudapi.cn',
  },
};

/**
 * Longest a readiness check (src/lifecycle/readiness.ts) may take before /readyz counts it as
 * failing: load balancers probe with timeouts of a few seconds (Kubernetes' default is 1 s).
 */
export const READINESS_CHECK_TIMEOUT_MS = 800;
/** How long in-flight requests may finish after SIGTERM before the process exits anyway (BRIDGE_SHUTDOWN_GRACE_MS). */
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;
/**
 * Oldest Node.js the release build runs on (src/node/require-node.ts): 22.0 has every runtime API
 * the bundle uses (global fetch and Web Crypto, URL.canParse, AbortSignal.timeout), and 20.x is past
 * its end of life. Checked by running the build on 22.0.0 (docs/operations.md, build and run).
 */
export const MIN_NODE_VERSION_BUNDLE = '22.0.0';
/** Oldest Node.js that runs the TypeScript sources: type stripping without a flag (22.18.0, 23.6.0). */
export const MIN_NODE_VERSION_SOURCE = '22.18.0';
