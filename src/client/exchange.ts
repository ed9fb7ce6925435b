/**
 * Client side of POST /token, shared by the platform client helpers (adapters/<platform>/client).
 * Runtime-neutral: only `fetch`. Caches each agent token until shortly before it expires and
 * shares one in-flight exchange between concurrent callers asking for the same thing.
 */
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE } from '../constants.ts';

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
 */
export class AgentTokenCache {
  readonly #tokens = new Map<string, AgentToken>();
  readonly #inflight = new Map<string, Promise<AgentToken>>();
  readonly #renewBeforeSec: number;
  readonly #now: () => number;

  constructor(renewBeforeSec = 300, now: () => number = () => Date.now() / 1000) {
    this.#renewBeforeSec = renewBeforeSec;
    this.#now = now;
  }

  async get(key: string, fetchToken: () => Promise<AgentToken>): Promise<AgentToken> {
    const cached = this.#tokens.get(key);
    if (cached && cached.expiresAt - this.#renewBeforeSec > this.#now()) return cached;
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = fetchToken().then(
        (t) => {
          this.#tokens.set(key, t);
          this.#inflight.delete(key);
          return t;
        },
        (e: unknown) => {
          this.#inflight.delete(key);
          throw e;
        },
      );
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  clear(): void {
    this.#tokens.clear();
  }
}

export function cacheKeyOf(req: Omit<ExchangeRequest, 'proof'>): string {
  return JSON.stringify([req.resource ?? null, req.scope ?? null, req.agent ?? null, req.agentUser ?? null, req.userToken ?? null]);
}
