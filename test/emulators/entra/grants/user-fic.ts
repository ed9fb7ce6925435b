/**
 * The agent's user account (docs/entra.md#the-agents-user-account-three-legs leg 3): grant_type=user_fic, client_id = agent
 * identity authenticated with T1, user_federated_identity_credential = T2, user_id or username.
 * `requested_token_use=on_behalf_of` is accepted and not required (docs/entra.md#open-questions: sources disagree).
 */
import { TOKEN_EXCHANGE_APP_ID } from '../constants.ts';
import { authenticateConfidentialClient } from '../client-auth.ts';
import { mintContext, type GrantContext } from '../context.ts';
import { parseDelegatedScope } from '../directory.ts';
import { entraError } from '../errors.ts';
import { claimString } from '../jwt.ts';
import { requireOwnUserAssertion } from '../own-tokens.ts';
import { mintUserToken } from '../tokens.ts';
import { consentedScopes, delegatedResource, scpClaim, userFlowResponse } from './delegated.ts';

export async function userFic(ctx: GrantContext): Promise<Record<string, unknown>> {
  const clientId = ctx.form.require('client_id');
  const scope = parseDelegatedScope(ctx.form.require('scope'));
  const t2raw = ctx.form.require('user_federated_identity_credential');
  const userId = ctx.form.get('user_id');
  const username = ctx.form.get('username');
  if (userId === undefined && username === undefined) throw entraError(900144, 'user_id');
  const client = await authenticateConfidentialClient(ctx, clientId);

  // ─── T2: "T2 (aud) == agent identity" (https://learn.microsoft.com/entra/agent-id/agent-user-oauth-flow), literally aud = token-exchange app, sub = azp = agent (docs/entra.md#token-claims).
  // Every T2 failure below is invalid_grant with an [inf] code: Entra's are undocumented (docs/entra.md#open-questions).
  const t2 = await requireOwnUserAssertion(ctx, t2raw);
  const clientLower = clientId.toLowerCase();
  if (t2.claims.aud !== TOKEN_EXCHANGE_APP_ID)
    throw entraError(50013, `The credential audience must be '${TOKEN_EXCHANGE_APP_ID}'.`);
  if (
    claimString(t2.claims, 'sub')?.toLowerCase() !== clientLower ||
    claimString(t2.claims, 'azp')?.toLowerCase() !== clientLower
  ) {
    throw entraError(50013, `The credential was not issued to agent identity '${clientId}'.`);
  }

  // ─── The agent user: exists and belongs to this agent identity (identityParentId, docs/entra.md#objects-and-identifiers).
  const byId = userId?.toLowerCase();
  const byName = username?.toLowerCase();
  const user = ctx.tenant.agentUsers.find(
    (u) =>
      (byId === undefined || u.oid.toLowerCase() === byId) && (byName === undefined || u.upn.toLowerCase() === byName),
  );
  // [inf] AADSTS50034-style for both "no such agent user" and "not this agent's user" (docs/entra.md#error-codes).
  if (!user || user.identityParentId.toLowerCase() !== clientLower)
    throw entraError(50034, userId ?? username!, ctx.tenant.tenantId);

  // ─── Consent (principal = the agent user) and token.
  const resource = delegatedResource(ctx, scope);
  const granted = consentedScopes(client, user.oid, resource, scope);
  const accessToken = await mintUserToken(mintContext(ctx), resource, {
    user,
    clientId: client.kind === 'agent' ? client.agent.appId : client.blueprint.appId,
    clientAuth: '2',
    scp: scpClaim(resource, granted, scope, { agentUser: true }),
    lifetimeSec: resource.lifetimeSec,
    agent: { parentBlueprintId: client.blueprint.appId, agentUser: true },
  });
  return userFlowResponse(ctx, {
    accessToken,
    lifetimeSec: resource.lifetimeSec,
    resourceUri: resource.uri,
    granted,
    scope,
    clientId,
    user,
  });
}
