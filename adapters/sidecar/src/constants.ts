/**
 * The sidecar's numbers and fixed names, each with the reason for its value (docs/sidecar.md).
 */

/**
 * Microsoft's default: the Agents SDK's SidecarAuthProvider calls http://localhost:5178 unless
 * SIDECAR_URL says otherwise (@microsoft/agents-hosting, src/auth/sidecar/sidecarModels.ts).
 */
export const DEFAULT_LISTEN_HOST = '127.0.0.1';
export const DEFAULT_LISTEN_PORT = 5178;

/**
 * The service name Microsoft's clients ask for the blueprint token under (sidecarModels.ts,
 * DEFAULT_BLUEPRINT_SERVICE_NAME), and the token-exchange resource of every Entra cloud
 * (api://AzureADTokenExchange, ...USGov, ...China; https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation-create-trust).
 */
export const BLUEPRINT_SERVICE_NAME = 'agenticblueprint';
export const TOKEN_EXCHANGE_RESOURCE_PREFIX = 'api://azureadtokenexchange';

/**
 * A scope without a resource is a Microsoft Graph permission (User.Read means
 * https://graph.microsoft.com/User.Read): https://learn.microsoft.com/en-us/entra/identity-platform/scopes-oidc.
 */
export const GRAPH_RESOURCE = 'https://graph.microsoft.com';

/** Scopes Entra adds to user flows itself (OpenID Connect); never a resource. */
export const OIDC_SCOPES: ReadonlySet<string> = new Set(['openid', 'profile', 'offline_access', 'email']);

/**
 * Retry-After when the bridge gave none: long enough not to hammer a bridge that is down, well
 * inside the 30 s request timeout Microsoft's client applies (sidecarModels.ts DEFAULT_REQUEST_TIMEOUT_MS).
 */
export const DEFAULT_RETRY_AFTER_SEC = 5;

/**
 * One exchange at the bridge may take this long before the caller gets a retryable 503: below the
 * 30 s per-attempt timeout of Microsoft's client, so the caller hears why instead of timing out.
 */
export const BRIDGE_TIMEOUT_MS = 20_000;

/**
 * /healthz obtains a proof and reaches the bridge; probes every few seconds (Kubernetes' default
 * period is 10 s) reuse the last answer for this long instead of minting a proof each time.
 */
export const HEALTH_CACHE_MS = 10_000;

/** A token file or command output larger than this is not a token (the bridge's own cap is 16 KiB). */
export const PROOF_MAX_BYTES = 64 * 1024;

/** `command:<cmd>` must print its token within this time. */
export const PROOF_COMMAND_TIMEOUT_MS = 30_000;

/** The problem `type` URIs (RFC 7807 §3.1): one per problem, documented in docs/sidecar.md#problems. */
export const PROBLEM_TYPE_PREFIX = 'urn:agent-id-bridge:sidecar:';
