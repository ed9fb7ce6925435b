/**
 * The Entra agent-token client, split in two (docs/architecture.md#ports):
 *  - an EntraTransport does exactly one HTTP exchange per call (msal-node on Node, plain fetch on
 *    Workers), and reports failures as EntraHttpError or UpstreamError;
 *  - the AgentTokenService (client.ts) composes the legs, caches, shares in-flight calls, retries.
 * Flows: docs/entra.md#autonomous-two-legs, docs/entra.md#on-behalf-of-a-user, docs/entra.md#the-agents-user-account-three-legs.
 */

export interface EntraToken {
  accessToken: string;
  /** Unix seconds. */
  expiresAt: number;
  /** Scopes Entra granted, when it says (user flows). */
  scope?: string;
  correlationId?: string;
  /** SHA-256 (hex) of accessToken, computed once when fetched: the audit log records it on every hit. */
  sha256?: string;
}

export interface LegContext {
  tenantId: string;
  /** Sent as client-request-id; Entra echoes it as correlation_id. */
  correlationId: string;
}

export type AgentUserRef = { upn: string } | { oid: string };

export interface EntraTransport {
  readonly name: string;
  /**
   * Leg 1: blueprint → T1 with fmi_path = agent id; `scope` is the cloud's token-exchange scope
   * (`<audience>/.default`), and `clientAssertion` mints a fresh bridge assertion.
   */
  blueprintExchangeToken(
    p: LegContext & { blueprintId: string; agentId: string; scope: string; clientAssertion: () => Promise<string> },
  ): Promise<EntraToken>;
  /** Leg 2 (client credentials as the agent): a resource token, or T2 when scope is the token-exchange scope. */
  agentClientCredentials(p: LegContext & { agentId: string; t1: string; scope: string }): Promise<EntraToken>;
  /** OBO: the agent acts for the human user whose token `userAssertion` is (docs/entra.md#on-behalf-of-a-user). */
  onBehalfOf(
    p: LegContext & { agentId: string; t1: string; userAssertion: string; scopes: string[] },
  ): Promise<EntraToken>;
  /** user_fic: the agent's own user account (docs/entra.md#the-agents-user-account-three-legs). */
  userFederatedCredential(
    p: LegContext & { agentId: string; t1: string; t2: string; user: AgentUserRef; scopes: string[] },
  ): Promise<EntraToken>;
}

/** Entra answered with an error status; the body is parsed but never contains a token. */
export class EntraHttpError extends Error {
  readonly status: number;
  readonly error: string;
  /** AADSTS code as a string, e.g. "70021". */
  readonly aadsts: string | undefined;
  /** First line of error_description, capped. */
  readonly summary: string;
  readonly correlationId: string | undefined;
  readonly retryAfterSec: number | undefined;

  constructor(p: {
    status: number;
    error: string;
    aadsts?: string;
    summary: string;
    correlationId?: string;
    retryAfterSec?: number;
  }) {
    super(`Entra ${p.status} ${p.error}${p.aadsts ? ` AADSTS${p.aadsts}` : ''}: ${p.summary}`);
    this.name = 'EntraHttpError';
    this.status = p.status;
    this.error = p.error;
    this.aadsts = p.aadsts;
    this.summary = p.summary;
    this.correlationId = p.correlationId;
    this.retryAfterSec = p.retryAfterSec;
  }
}

/** Parse an Entra error answer (docs/entra.md#responses-and-error-bodies) into an EntraHttpError. */
export function parseEntraError(
  status: number,
  headers: { get(name: string): string | null },
  text: string,
): EntraHttpError {
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object') body = parsed as Record<string, unknown>;
  } catch {
    // Not JSON (a gateway's 503 page): keep the status only.
  }
  const codes = Array.isArray(body.error_codes) ? body.error_codes : [];
  const description = typeof body.error_description === 'string' ? body.error_description : '';
  const aadsts = codes.length > 0 ? String(codes[0]) : /AADSTS(\d+)/.exec(description)?.[1];
  const firstLine = description.split(/\r?\n/)[0] ?? '';
  const retryAfter = parseRetryAfter(headers.get('retry-after'));
  return new EntraHttpError({
    status,
    error: typeof body.error === 'string' ? body.error : `http_${status}`,
    ...(aadsts ? { aadsts } : {}),
    summary: (firstLine || `HTTP ${status}`).slice(0, 400),
    ...(typeof body.correlation_id === 'string' ? { correlationId: body.correlation_id } : {}),
    ...(retryAfter !== undefined ? { retryAfterSec: retryAfter } : {}),
  });
}

/** RFC 9110 §10.2.3: delay-seconds or an HTTP-date. */
export function parseRetryAfter(value: string | null | undefined, nowMs = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}
