/**
 * POST /token at agent-id-bridge (RFC 8693 token exchange) through n8n's own HTTP helper, and the
 * translation of the bridge's refusals into n8n errors that say what to fix. Nothing here ever puts
 * the assertion, the user token or the access token into an error, a log or an output other than
 * the access token itself.
 */
import type { IExecuteFunctions, IHttpRequestOptions, JsonObject } from 'n8n-workflow';
import { NodeApiError } from 'n8n-workflow';

export const GRANT_TYPE_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt';
export const TOKEN_TYPE_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

export type Mode = 'autonomous' | 'agentUser' | 'onBehalfOf';

export interface ExchangeParams {
  mode: Mode;
  assertion: string;
  resource: string;
  /** Space-separated scopes; sent instead of `resource` when given. */
  scope?: string;
  agentId?: string;
  agentUser?: string;
  userToken?: string;
}

export interface BridgeToken {
  accessToken: string;
  expiresIn: number;
  scope: string;
  agentId: string;
}

/** What the node knows when it explains a refusal. */
export interface RefusalContext {
  bridgeUrl: string;
  instanceId: string;
  workflowId: string;
  kid: string;
  itemIndex: number;
}

export function exchangeForm(p: ExchangeParams): string {
  const form = new URLSearchParams({ grant_type: GRANT_TYPE_TOKEN_EXCHANGE });
  if (p.mode === 'onBehalfOf') {
    // RFC 8693 §1.1 delegation: the user is the subject, the workflow is the actor.
    form.set('subject_token', p.userToken ?? '');
    form.set('subject_token_type', TOKEN_TYPE_ACCESS_TOKEN);
    form.set('actor_token', p.assertion);
    form.set('actor_token_type', TOKEN_TYPE_JWT);
  } else {
    form.set('subject_token', p.assertion);
    form.set('subject_token_type', TOKEN_TYPE_JWT);
  }
  if (p.scope) form.set('scope', p.scope);
  else form.set('resource', p.resource);
  if (p.agentId) form.set('audience', p.agentId);
  if (p.mode === 'agentUser' && p.agentUser) form.set('agent_user', p.agentUser);
  return form.toString();
}

export async function requestAgentToken(
  ctx: IExecuteFunctions,
  params: ExchangeParams,
  refusal: RefusalContext,
  timeoutMs: number,
): Promise<BridgeToken> {
  const options: IHttpRequestOptions = {
    method: 'POST',
    url: `${refusal.bridgeUrl}/token`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: exchangeForm(params),
    returnFullResponse: true,
    ignoreHttpStatusErrors: true,
    disableFollowRedirect: true,
    timeout: timeoutMs,
  };
  let response: { statusCode?: number; body?: unknown; headers?: Record<string, unknown> };
  try {
    response = (await ctx.helpers.httpRequest(options)) as typeof response;
  } catch {
    // The helper's error carries the request (and so the assertion): report without it.
    throw new NodeApiError(
      ctx.getNode(),
      { message: 'agent-id-bridge is unreachable' },
      {
        message: `Cannot reach agent-id-bridge at ${refusal.bridgeUrl}`,
        description:
          'Check the Bridge URL in the credential (the bridge issuer URL, reachable from this n8n host) and that the bridge is running.',
        itemIndex: refusal.itemIndex,
      },
    );
  }
  const status = response.statusCode ?? 0;
  const body = parseBody(response.body);
  if (status === 200 && typeof body.access_token === 'string') {
    return {
      accessToken: body.access_token,
      expiresIn: typeof body.expires_in === 'number' ? body.expires_in : Number(body.expires_in ?? 0),
      scope: typeof body.scope === 'string' ? body.scope : '',
      agentId: typeof body.agent_id === 'string' ? body.agent_id : (params.agentId ?? ''),
    };
  }
  const retryAfter = Number(response.headers?.['retry-after']);
  throw refusalError(
    ctx,
    status,
    body,
    refusal,
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
  );
}

function parseBody(raw: unknown): Record<string, unknown> {
  let value = raw;
  if (typeof value === 'string' || Buffer.isBuffer(value)) {
    try {
      value = JSON.parse(value.toString());
    } catch {
      return {};
    }
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** One message per refusal the bridge documents (docs/operations.md#failures), each naming the fix. */
export function refusalError(
  ctx: IExecuteFunctions,
  status: number,
  body: Record<string, unknown>,
  r: RefusalContext,
  retryAfterSec?: number,
): NodeApiError {
  const error = typeof body.error === 'string' ? body.error : 'invalid_response';
  const said = typeof body.error_description === 'string' ? body.error_description : `HTTP ${status}`;
  const requestId = typeof body.request_id === 'string' ? body.request_id : undefined;
  const audit = requestId ? ` The bridge's audit log has the exact reason under request id ${requestId}.` : '';
  const principal = `n8n:${r.instanceId}:workflow:${r.workflowId}`;
  let message: string;
  let fix: string;
  if (status === 400 && error === 'invalid_request' && /proof could not be verified/i.test(said)) {
    message = "agent-id-bridge did not accept this n8n instance's proof";
    fix = `Check that instance "${r.instanceId}" is registered in the bridge policy (platforms.n8n.instances) with the public key whose kid is ${r.kid}, that this host's clock is correct, and that the Bridge URL is the bridge's issuer URL (the proof's audience is ${r.bridgeUrl}/token).`;
  } else if (status === 400 && error === 'invalid_request' && /no trust policy rule/i.test(said)) {
    message = `No bridge policy rule allows workflow ${r.workflowId} of instance ${r.instanceId}`;
    fix = `Ask the bridge operator for a rule with platform "n8n" and principal "${principal}" (rules match the workflow id, never its name).`;
  } else if (error === 'invalid_target') {
    message = `agent-id-bridge refused the requested target: ${said}`;
    fix = `Check Agent ID, Resource, Scopes and Agent User against what the bridge policy rule for "${principal}" allows.`;
  } else if (error === 'invalid_request' && /Microsoft Entra rejected the user token/i.test(said)) {
    // RFC 8693 §2.2.2. The node checked the field first (not empty, not an unresolved expression, a JWT),
    // so this is about the token itself, not about how it was mapped.
    message = 'Microsoft Entra rejected the user token';
    fix =
      "The token reached Entra and Entra refused it: it has expired, was not issued for the agent blueprint (its audience), or is from another tenant. Pass a current access token of the signed-in user for the blueprint's scope.";
  } else if (error === 'invalid_grant') {
    // What bridges before RFC 8693 §2.2.2 answered for the same refusal.
    message = `Microsoft Entra rejected the request: ${said}`;
    fix = 'In on-behalf-of mode, pass a current access token of the signed-in user issued for the agent blueprint.';
  } else if (error === 'invalid_scope') {
    message = `Microsoft Entra rejected the request: ${said}`;
    fix = 'Check that consent was granted for the requested scopes (to the agent identity, for this user).';
  } else if (status === 429) {
    message = 'agent-id-bridge is rate limiting this workflow';
    fix = `Retry ${retryAfterSec ? `in ${retryAfterSec} s` : 'later'}, or cache tokens (Options > Cache Tokens) so fewer exchanges are needed.`;
  } else if (status === 503) {
    message = 'agent-id-bridge or Microsoft Entra is temporarily unavailable';
    fix = `Retry ${retryAfterSec ? `in ${retryAfterSec} s` : 'later'}; enable "Retry On Fail" in the node settings to retry automatically.`;
  } else if (status === 502) {
    message = `Microsoft Entra refused the bridge: ${said}`;
    fix =
      'The bridge operator must fix the Entra tenant configuration (federated credential, agent identity, permissions).';
  } else if (status === 404) {
    message = `No agent-id-bridge token endpoint at ${r.bridgeUrl}/token`;
    fix = 'Set the Bridge URL in the credential to the bridge issuer URL (without /token).';
  } else {
    message = `agent-id-bridge refused the exchange (${status} ${error})`;
    fix = said;
  }
  const response: JsonObject = { error, error_description: said, ...(requestId ? { request_id: requestId } : {}) };
  return new NodeApiError(ctx.getNode(), response, {
    message,
    description: `${fix}${audit}`,
    httpCode: String(status),
    itemIndex: r.itemIndex,
  });
}
