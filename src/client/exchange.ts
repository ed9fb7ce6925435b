/**
 * Client side of POST /token, shared by the platform client helpers (adapters/<platform>/client).
 * Runtime-neutral: only `fetch`. Caches each agent token until shortly before it expires and
 * shares one in-flight exchange between concurrent callers asking for the same thing.
 */
import { CACHE_ENTRY_OVERHEAD_BYTES, CLIENT_TOKEN_CACHE_MAX_BYTES, CLIENT_TOKEN_CACHE_MAX_ENTRIES, GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE } from '../constants.ts';
import { ExpiringCache, type CacheStats, type LoadOptions } from '../util/expiring-cache.ts';

export interface ExchangeRequest {
  /** The proof and its RFC 8693 token type. */
  proof: { token: string; tokenType: string };
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

export interface AgentToken {
  accessToken: string;
  /** Unix seconds. */
  expiresAt: number;
  scope: string;
  agentId: string | undefined;
}

/** A refusal from the bridge, with its RFC 6749 error code and description. Never contains a token. */
export class BridgeExchangeError extends Error {
  readonly status: number;
  readonly error: string;
  readonly errorDescription: string;
  readonly retryAfterSec: number | undefined;
  constructor(status: number, error: string, errorDescription: string, retryAfterSec?: number) {
    super(`agent-id-bridge refused the exchange (${status} ${error}): ${errorDescription}`);
    this.name = 'BridgeExchangeError';
    this.status = status;
    this.error = error;
    this.errorDescription = errorDescription;
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
export async function exchangeAtBridge(bridgeUrl: string, req: ExchangeRequest, fetchImpl: typeof fetch = fetch, now: () => number = () => Date.now() / 1000): Promise<AgentToken> {
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
    throw new BridgeExchangeError(
      res.status,
      typeof body.error === 'string' ? body.error : 'invalid_response',
      typeof body.error_description === 'string' ? body.error_description : `HTTP ${res.status} without an OAuth error body`,
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
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
 * Caches agent tokens per request shape until `renewBeforeSec` before expiry; concurrent callers
 * for the same shape share one exchange. The proof is obtained lazily, only on a cache miss.
 * Bounded in entries and bytes (the key holds the user token in OBO mode) by the bridge's one
 * cache rule (src/util/expiring-cache.ts): expired entries first, then the oldest.
 */
export class AgentTokenCache {
  readonly #cache: ExpiringCache<AgentToken>;
  readonly #now: () => number;
  readonly #untilRenewal: LoadOptions<AgentToken>;

  constructor(renewBeforeSec = 300, now: () => number = () => Date.now() / 1000, bounds: { maxEntries?: number; maxBytes?: number } = {}) {
    this.#now = now;
    this.#cache = new ExpiringCache({
      maxEntries: bounds.maxEntries ?? CLIENT_TOKEN_CACHE_MAX_ENTRIES,
      maxBytes: bounds.maxBytes ?? CLIENT_TOKEN_CACHE_MAX_BYTES,
      sizeOf: (key, t) => CACHE_ENTRY_OVERHEAD_BYTES + key.length + t.accessToken.length + t.scope.length + (t.agentId?.length ?? 0),
    });
    this.#untilRenewal = { expiresAt: (t) => t.expiresAt - renewBeforeSec };
  }

  async get(key: string, fetchToken: () => Promise<AgentToken>): Promise<AgentToken> {
    return (await this.#cache.load(key, this.#now(), fetchToken, this.#untilRenewal)).value;
  }

  clear(): void {
    this.#cache.clear();
  }

  get stats(): CacheStats {
    return this.#cache.stats;
  }
}

export function cacheKeyOf(req: Omit<ExchangeRequest, 'proof'>): string {
  return JSON.stringify([req.resource ?? null, req.scope ?? null, req.agent ?? null, req.agentUser ?? null, req.userToken ?? null]);
}
