/**
 * The agent-token service: composes the Entra legs for each mode (docs/architecture.md#the-entra-legs), caches
 * T1 per (tenant, blueprint, agent) and resource tokens per (tenant, agent, scopes[, user]) with
 * renew-ahead and single flight, and retries 429/5xx/network failures with jittered backoff,
 * honouring Retry-After when it is short enough to wait inside the request.
 */
import { decodeJwt } from 'jose';
import type { Mode } from '../config/schema.ts';
import { sha256Hex } from '../util/hash.ts';
import { tokenExchangeScope } from './cloud.ts';
import { isRetryable, toBridgeError, type FicExpectation } from './errors.ts';
import type { SharedCache } from '../store/ports.ts';
import { TokenCache } from './token-cache.ts';
import type { CacheStats } from '../util/expiring-cache.ts';
import { BridgeError } from '../errors.ts';
import { EntraHttpError, type AgentUserRef, type EntraToken, type EntraTransport } from './types.ts';

const OBO_STAGE = 'OBO exchange';

export interface AgentTokenRequest {
  tenantId: string;
  blueprintId: string;
  /** FIC subject the bridge asserts for this blueprint. */
  ficSubject: string;
  agentId: string;
  mode: Mode;
  /** Scopes of one resource, e.g. ["https://graph.microsoft.com/.default"]. */
  scopes: string[];
  /** OBO: the human user's token (audience: the blueprint). */
  userAssertion?: string;
  /** agent_user: the agent's user account. */
  agentUser?: AgentUserRef;
  correlationId: string;
}

export interface AgentTokenResult {
  token: EntraToken;
  fromCache: boolean;
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  /** Longest Retry-After worth waiting for inside a request; longer ones are returned to the caller. */
  maxInlineRetryAfterSec: number;
}

export interface AgentTokenServiceOptions {
  transport: EntraTransport;
  /** Mint a fresh bridge assertion for leg 1 (never cached: docs/architecture.md#the-leg-1-assertion). */
  mintAssertion: (subject: string) => Promise<string>;
  /** What the blueprint's FIC must say (issuer, cloud token-exchange audience): the operator messages name it. */
  fic: { issuer: string; audience: string };
  clock: () => number;
  renewBeforeSec: number;
  retry: RetryPolicy;
  sleep?: (ms: number) => Promise<void>;
  /** Tokens shared by replicas (Redis on Node, docs/redis.md), behind the in-process caches; keyed the same way. */
  shared?: SharedCache<EntraToken>;
}

export class AgentTokenService {
  readonly #opts: AgentTokenServiceOptions;
  readonly #t1: TokenCache;
  readonly #tokens: TokenCache;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(opts: AgentTokenServiceOptions) {
    this.#opts = opts;
    const shared = opts.shared ? { shared: opts.shared } : {};
    this.#t1 = new TokenCache({ renewBeforeSec: opts.renewBeforeSec, clock: opts.clock, ...shared });
    this.#tokens = new TokenCache({ renewBeforeSec: opts.renewBeforeSec, clock: opts.clock, ...shared });
    this.#sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  get transportName(): string {
    return this.#opts.transport.name;
  }

  /** Counters of the two caches, for the metrics: T1s, and resource tokens with T2s. */
  get cacheStats(): { t1: CacheStats; tokens: CacheStats } {
    return { t1: this.#t1.stats, tokens: this.#tokens.stats };
  }

  async acquire(req: AgentTokenRequest): Promise<AgentTokenResult> {
    const scopeKey = [...req.scopes].sort().join(' ');
    const key = this.#resultKey(req, scopeKey);
    const fetch = async () => {
      const token = await this.#fetchResult(req);
      return { ...token, sha256: sha256Hex(token.accessToken) };
    };
    if (req.mode !== 'obo') return this.#tokens.get(key, fetch);
    // An OBO token stands for the user only while the user's token does: never serve it from the
    // cache past that token's exp, or one that has no readable exp (docs/architecture.md, caches).
    return this.#tokens.get(key, fetch, () => unverifiedExp(req.userAssertion ?? ''));
  }

  #resultKey(req: AgentTokenRequest, scopeKey: string): string {
    const base = `${req.tenantId}|${req.agentId}|${scopeKey}`;
    switch (req.mode) {
      case 'autonomous':
        return `app|${base}`;
      case 'obo':
        // Keyed by a hash of the user token: the same user token yields the same OBO token (as MSAL does).
        return `obo|${base}|${sha256Hex(req.userAssertion ?? '')}`;
      case 'agent_user': {
        const user = req.agentUser;
        return `user|${base}|${user ? ('upn' in user ? `upn:${user.upn.toLowerCase()}` : `oid:${user.oid.toLowerCase()}`) : ''}`;
      }
    }
  }

  async #fetchResult(req: AgentTokenRequest): Promise<EntraToken> {
    const t1 = await this.#blueprintToken(req);
    const t = this.#opts.transport;
    const ctx = { tenantId: req.tenantId, correlationId: req.correlationId };
    switch (req.mode) {
      case 'autonomous':
        // The request parser guarantees one <resource>/.default scope here (app-only, docs/entra.md#the-token-endpoint).
        if (req.scopes.length !== 1) throw new BridgeError('invalid_scope', 'autonomous mode takes exactly one scope');
        return this.#withRetry('leg 2 (agent token)', req, () =>
          t.agentClientCredentials({ ...ctx, agentId: req.agentId, t1: t1.accessToken, scope: req.scopes[0]! }),
        );
      case 'obo':
        return this.#withRetry(OBO_STAGE, req, () =>
          t.onBehalfOf({
            ...ctx,
            agentId: req.agentId,
            t1: t1.accessToken,
            userAssertion: req.userAssertion ?? '',
            scopes: req.scopes,
          }),
        );
      case 'agent_user': {
        const t2 = await this.#tokens.get(`t2|${req.tenantId}|${req.agentId}`, () =>
          this.#withRetry('leg 2 (T2 for the agent user)', req, () =>
            t.agentClientCredentials({
              ...ctx,
              agentId: req.agentId,
              t1: t1.accessToken,
              scope: tokenExchangeScope(this.#opts.fic.audience),
            }),
          ),
        );
        return this.#withRetry('user_fic exchange', req, () =>
          t.userFederatedCredential({
            ...ctx,
            agentId: req.agentId,
            t1: t1.accessToken,
            t2: t2.token.accessToken,
            user: req.agentUser!,
            scopes: req.scopes,
          }),
        );
      }
    }
  }

  async #blueprintToken(req: AgentTokenRequest): Promise<EntraToken> {
    const key = `t1|${req.tenantId}|${req.blueprintId}|${req.agentId}`;
    const { token } = await this.#t1.get(key, () =>
      this.#withRetry('leg 1 (blueprint T1)', req, () =>
        this.#opts.transport.blueprintExchangeToken({
          tenantId: req.tenantId,
          correlationId: req.correlationId,
          blueprintId: req.blueprintId,
          agentId: req.agentId,
          scope: tokenExchangeScope(this.#opts.fic.audience),
          clientAssertion: () => this.#opts.mintAssertion(req.ficSubject),
        }),
      ),
    );
    return token;
  }

  async #withRetry(stage: string, req: AgentTokenRequest, call: () => Promise<EntraToken>): Promise<EntraToken> {
    const fic: FicExpectation = { ...this.#opts.fic, subject: req.ficSubject, blueprintId: req.blueprintId };
    const stageInfo = { name: stage, userAssertion: stage === OBO_STAGE, fic };
    const { attempts, baseDelayMs, maxInlineRetryAfterSec } = this.#opts.retry;
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (e) {
        if (attempt >= attempts || !isRetryable(e)) throw toBridgeError(e, stageInfo);
        const retryAfter = e instanceof EntraHttpError ? e.retryAfterSec : undefined;
        if (retryAfter !== undefined && retryAfter > maxInlineRetryAfterSec) throw toBridgeError(e, stageInfo);
        const backoff = baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
        await this.#sleep(retryAfter !== undefined ? Math.max(retryAfter * 1000, backoff) : backoff);
      }
    }
  }
}

/**
 * The `exp` of a token the bridge does not verify (Entra verifies the OBO user token), read only to
 * bound how long a token derived from it is cached. -Infinity when absent or unreadable: then the
 * derived token is not cached at all, and Entra judges the user token on every request.
 */
function unverifiedExp(token: string): number {
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === 'number' && Number.isFinite(exp) ? exp : -Infinity;
  } catch {
    return -Infinity;
  }
}
