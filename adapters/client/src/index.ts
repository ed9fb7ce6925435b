/**
 * @agent-id-bridge/client: the workload side of POST /token, shared by the platform packages
 * (@agent-id-bridge/aws, @agent-id-bridge/gcp) and usable on its own with any proof.
 * Runtime-neutral: only `fetch`. Caches each agent token until shortly before it expires (and an
 * OBO token no longer than the user's token lives), and shares one in-flight exchange between
 * concurrent callers asking for the same thing. docs/clients.md describes the packages.
 */
import {
  CACHE_ENTRY_OVERHEAD_BYTES,
  CLIENT_TOKEN_CACHE_MAX_BYTES,
  CLIENT_TOKEN_CACHE_MAX_ENTRIES,
  GRANT_TYPE_TOKEN_EXCHANGE,
  TOKEN_RENEW_BEFORE_EXPIRY_SEC,
  TOKEN_TYPE as TOKEN_TYPES,
} from '../../../src/constants.ts';
import { ExpiringCache, type CacheStats, type LoadOptions } from '../../../src/util/expiring-cache.ts';

/** RFC 8693 §3 token type identifiers (and AWS's), for a `Proof` of your own. */
export const TOKEN_TYPE = TOKEN_TYPES;

/** A platform proof and its RFC 8693 token type (RFC 8693 §3). */
export interface Proof {
  token: string;
  tokenType: string;
}

/** What to ask the bridge for; every field is optional when the policy leaves one choice. */
export interface AgentTokenRequest {
  /** Entra resource, e.g. "https://graph.microsoft.com" (sent as `resource`) ... */
  resource?: string;
  /** ... or an explicit scope, e.g. "https://graph.microsoft.com/.default". */
  scope?: string;
  /** Agent identity client id; optional when the policy maps the workload to exactly one agent. */
  agent?: string;
  /** Agent-user mode: the agent's user account (UPN or object id). */
  agentUser?: string;
  /** OBO mode: the signed-in user's token (the proof then travels as the actor token). */
  userToken?: string;
}

export interface ExchangeRequest extends AgentTokenRequest {
  proof: Proof;
}

export interface AgentToken {
  accessToken: string;
  /** Unix seconds. */
  expiresAt: number;
  scope: string;
  agentId: string | undefined;
}

/**
 * A refusal from the bridge: its HTTP status, the RFC 6749 §5.2 `error` and `error_description`,
 * and the `request_id` that finds the bridge's audit line. Never contains a token.
 */
export class BridgeExchangeError extends Error {
  readonly status: number;
  readonly error: string;
  readonly errorDescription: string;
  readonly requestId: string | undefined;
  readonly retryAfterSec: number | undefined;
  constructor(status: number, error: string, errorDescription: string, retryAfterSec?: number, requestId?: string) {
    super(
      `agent-id-bridge refused the exchange (${status} ${error}): ${errorDescription}${requestId ? ` [request_id ${requestId}]` : ''}`,
    );
    this.name = 'BridgeExchangeError';
    this.status = status;
    this.error = error;
    this.errorDescription = errorDescription;
    this.requestId = requestId;
    this.retryAfterSec = retryAfterSec;
  }
}

export function exchangeForm(req: ExchangeRequest): URLSearchParams {
  const form = new URLSearchParams({ grant_type: GRANT_TYPE_TOKEN_EXCHANGE });
  if (req.userToken !== undefined) {
    form.set('subject_token', req.userToken);
    form.set('subject_token_type', TOKEN_TYPE.accessToken);
    form.set('actor_token', req.proof.token);
    form.set('actor_token_type', req.proof.tokenType);
  } else {
    form.set('subject_token', req.proof.token);
    form.set('subject_token_type', req.proof.tokenType);
  }
  if (req.resource !== undefined) form.set('resource', req.resource);
  if (req.scope !== undefined) form.set('scope', req.scope);
  if (req.agent !== undefined) form.set('audience', req.agent);
  if (req.agentUser !== undefined) form.set('agent_user', req.agentUser);
  return form;
}

/** One exchange, no caching. */
export async function exchangeAtBridge(
  bridgeUrl: string,
  req: ExchangeRequest,
  fetchImpl: typeof fetch = fetch,
  now: () => number = () => Date.now() / 1000,
): Promise<AgentToken> {
  const res = await fetchImpl(new URL('/token', bridgeUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: exchangeForm(req).toString(),
  });
  let body: Record<string, unknown> = {};
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch {
    // fall through with an empty body: reported below
  }
  if (!res.ok || typeof body.access_token !== 'string') {
    const retryAfter = Number(res.headers.get('retry-after'));
    const requestId =
      typeof body.request_id === 'string' ? body.request_id : (res.headers.get('x-request-id') ?? undefined);
    throw new BridgeExchangeError(
      res.status,
      typeof body.error === 'string' ? body.error : 'invalid_response',
      typeof body.error_description === 'string'
        ? body.error_description
        : `HTTP ${res.status} without an OAuth error body`,
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
      requestId,
    );
  }
  return {
    accessToken: body.access_token,
    expiresAt: Math.floor(now()) + Number(body.expires_in ?? 0),
    scope: typeof body.scope === 'string' ? body.scope : '',
    agentId: typeof body.agent_id === 'string' ? body.agent_id : undefined,
  };
}

/**
 * The `exp` of a JWT (unix seconds), read without verifying it: the client only uses it to stop
 * caching, never to trust anything. Undefined when the token is not a JWT with a numeric `exp`.
 */
export function jwtExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const exp: unknown = JSON.parse(new TextDecoder().decode(base64UrlDecode(payload))).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined;
  } catch {
    return undefined;
  }
}

function base64UrlDecode(s: string): Uint8Array {
  const binary = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/**
 * Caches agent tokens per request shape until `renewBeforeSec` before expiry; concurrent callers
 * for the same shape share one exchange. The proof is obtained lazily, only on a cache miss.
 * Bounded in entries and bytes (the key holds the user token in OBO mode) by the bridge's one
 * cache rule (docs/architecture.md, "Caches"): expired entries first, then the oldest.
 */
export class AgentTokenCache {
  readonly #cache: ExpiringCache<AgentToken>;
  readonly #now: () => number;
  readonly #renewBeforeSec: number;
  readonly #untilRenewal: LoadOptions<AgentToken>;

  constructor(
    renewBeforeSec = TOKEN_RENEW_BEFORE_EXPIRY_SEC,
    now: () => number = () => Date.now() / 1000,
    bounds: { maxEntries?: number; maxBytes?: number } = {},
  ) {
    this.#now = now;
    this.#renewBeforeSec = renewBeforeSec;
    this.#cache = new ExpiringCache({
      maxEntries: bounds.maxEntries ?? CLIENT_TOKEN_CACHE_MAX_ENTRIES,
      maxBytes: bounds.maxBytes ?? CLIENT_TOKEN_CACHE_MAX_BYTES,
      sizeOf: (key, t) =>
        CACHE_ENTRY_OVERHEAD_BYTES + key.length + t.accessToken.length + t.scope.length + (t.agentId?.length ?? 0),
    });
    this.#untilRenewal = { expiresAt: (t) => t.expiresAt - renewBeforeSec };
  }

  /**
   * The cached token for `key`, or a fresh one from `fetchToken`. `notAfter` (unix seconds) caps
   * how long the fetched token is served from the cache: an OBO token must not outlive the user
   * token it was issued for. At or before now, the token is returned but not cached.
   */
  async get(key: string, fetchToken: () => Promise<AgentToken>, notAfter?: number): Promise<AgentToken> {
    const opts =
      notAfter === undefined
        ? this.#untilRenewal
        : { expiresAt: (t: AgentToken) => Math.min(t.expiresAt - this.#renewBeforeSec, notAfter) };
    return (await this.#cache.load(key, this.#now(), fetchToken, opts)).value;
  }

  /** Forget one request shape's token (the next `get` exchanges anew). */
  delete(key: string): void {
    this.#cache.delete(key);
  }

  clear(): void {
    this.#cache.clear();
  }

  get stats(): CacheStats {
    return this.#cache.stats;
  }
}

export function cacheKeyOf(req: AgentTokenRequest): string {
  return JSON.stringify([
    req.resource ?? null,
    req.scope ?? null,
    req.agent ?? null,
    req.agentUser ?? null,
    req.userToken ?? null,
  ]);
}

export interface AgentTokenSourceOptions extends Omit<AgentTokenRequest, 'userToken'> {
  /** The bridge's base URL; the exchange goes to `<bridgeUrl>/token`. */
  bridgeUrl: string;
  /** Obtains a fresh platform proof; called only when no cached token fits. */
  proof: () => Promise<Proof>;
  fetch?: typeof fetch;
  /** Default 300: a cached token is renewed this long before it expires. */
  renewBeforeSec?: number;
  /** Unix seconds; default the system clock. */
  now?: () => number;
}

export interface GetTokenOptions extends AgentTokenRequest {
  /** Skip the cache and exchange anew (the new token replaces the cached one). */
  forceRefresh?: boolean;
}

export interface AgentTokenSource {
  /**
   * An agent token for the configured request, or for `extra` over it. `userToken` switches to
   * OBO mode; the token is then cached no longer than the user token's own `exp` (not at all when
   * it has none).
   */
  getToken(extra?: GetTokenOptions): Promise<AgentToken>;
  /** The token cache's counters (hits, misses, exchanges, callers that shared one). */
  readonly stats: CacheStats;
}

/** A cached, single-flight agent-token source over any proof. The platform packages build on it. */
export function createAgentTokenSource(opts: AgentTokenSourceOptions): AgentTokenSource {
  const now = opts.now ?? (() => Date.now() / 1000);
  const cache = new AgentTokenCache(opts.renewBeforeSec ?? TOKEN_RENEW_BEFORE_EXPIRY_SEC, now);
  const defaults: AgentTokenRequest = {
    resource: opts.resource,
    scope: opts.scope,
    agent: opts.agent,
    agentUser: opts.agentUser,
  };
  return {
    getToken(extra = {}) {
      const { forceRefresh, ...overrides } = extra;
      const request: AgentTokenRequest = { ...defaults };
      for (const [k, v] of Object.entries(overrides) as [keyof AgentTokenRequest, string | undefined][])
        if (v !== undefined) request[k] = v;
      const key = cacheKeyOf(request);
      if (forceRefresh) cache.delete(key);
      const notAfter = request.userToken === undefined ? undefined : (jwtExpiry(request.userToken) ?? 0);
      return cache.get(
        key,
        async () => exchangeAtBridge(opts.bridgeUrl, { ...request, proof: await opts.proof() }, opts.fetch, now),
        notAfter,
      );
    },
    get stats() {
      return cache.stats;
    },
  };
}
