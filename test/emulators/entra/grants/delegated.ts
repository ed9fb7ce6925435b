/**
 * What the user flows share (OBO docs/entra.md#on-behalf-of-a-user, user_fic docs/entra.md#the-agents-user-account-three-legs, ROPC): the resource of a delegated scope,
 * consent, `scp`, and the success body with `scope`, `id_token` and `client_info` (docs/entra.md#responses-and-error-bodies).
 */
import type { EmulatedResource } from '../model.ts';
import type { GrantContext } from '../context.ts';
import { mintContext } from '../context.ts';
import { findResource, grantedScopes, isGraph, type DelegatedScope } from '../directory.ts';
import { entraError } from '../errors.ts';
import type { AuthenticatedClient } from '../client-auth.ts';
import { clientInfo, mintIdToken, tokenResponse, type TokenUser } from '../tokens.ts';

/** The resource principal a delegated request names; the token-exchange app has no delegated scopes. */
export function delegatedResource(ctx: GrantContext, scope: DelegatedScope): EmulatedResource {
  const resolved = findResource(ctx.tenant, scope.resourceId, ctx.tokenExchangeUri);
  if (!resolved) throw entraError(500011, scope.resourceId, ctx.tenant.tenantId);
  if (resolved.kind === 'exchange') throw entraError(70011, `${scope.resourceId}/${scope.names.join(' ')}`);
  return resolved.resource;
}

/**
 * The consented scopes of `principalId` for `client` on `resource`, or AADSTS65001. Only agent
 * identities carry delegated grants in the emulated directory; a blueprint has none.
 */
export function consentedScopes(
  client: AuthenticatedClient,
  principalId: string,
  resource: EmulatedResource,
  scope: DelegatedScope,
): string[] {
  const grants = client.kind === 'agent' ? client.agent.delegatedGrants : [];
  const granted = grantedScopes(grants, principalId, resource, scope.names);
  if (!granted) throw entraError(65001, client.kind === 'agent' ? client.agent.appId : client.blueprint.appId);
  return granted;
}

/** The OIDC scopes real agent-user Graph tokens carry in `scp` even when not requested. */
const AGENT_USER_OIDC_SCP = ['profile', 'openid', 'email'];

/**
 * `scp` of the issued token. openid/profile/email are Microsoft Graph permissions, so they appear in
 * Graph tokens only; offline_access never does. Agent-user Graph tokens carry "profile openid email"
 * even when the request named none of them: so the real agent-user token in
 * https://github.com/agnte/Rido.BFLite (AgenticTokens2.md), and real captures reported by an
 * outside review. Which request produced the public capture is not stated: UNSURE.
 */
export function scpClaim(
  resource: EmulatedResource,
  granted: string[],
  scope: DelegatedScope,
  p: { agentUser?: boolean } = {},
): string[] {
  if (!isGraph(resource)) return granted;
  const requested = scope.oidc.filter((s) => s !== 'offline_access');
  const oidc = p.agentUser ? [...AGENT_USER_OIDC_SCP, ...requested] : requested;
  return [...new Set([...granted, ...oidc])];
}

/**
 * Success body of a user flow. `scope` lists what the token is good for, fully qualified so that
 * MSAL's cache lookup by the requested scopes finds it. The id_token comes only when `openid` was
 * asked for and client_info only when `client_info=1` was sent, as Entra does; msal-node sends both.
 * [inf] No refresh_token: the emulator does not implement the refresh_token grant.
 */
export async function userFlowResponse(
  ctx: GrantContext,
  p: {
    accessToken: string;
    lifetimeSec: number;
    resourceUri: string;
    granted: string[];
    scope: DelegatedScope;
    clientId: string;
    user: TokenUser;
  },
): Promise<Record<string, unknown>> {
  const qualified = p.granted.map((s) => `${p.resourceUri}/${s}`);
  if (p.scope.names.includes('.default')) qualified.push(`${p.resourceUri}/.default`);
  const extra: Record<string, unknown> = { scope: [...qualified, ...p.scope.oidc].join(' ') };
  if (p.scope.oidc.includes('openid')) extra.id_token = await mintIdToken(mintContext(ctx), p.clientId, p.user);
  if (ctx.form.get('client_info') === '1') extra.client_info = clientInfo(p.user.oid, ctx.tenant.tenantId);
  return tokenResponse(p.accessToken, p.lifetimeSec, extra);
}
