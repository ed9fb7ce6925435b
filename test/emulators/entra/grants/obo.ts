/**
 * On-behalf-of a signed-in human user (docs/entra.md#on-behalf-of-a-user): grant_type=jwt-bearer,
 * requested_token_use=on_behalf_of, assertion = Tc (audience: the agent's blueprint),
 * client_id = agent identity authenticated with T1.
 */
import { GRANT_JWT_BEARER } from '../constants.ts';
import { authenticateConfidentialClient } from '../client-auth.ts';
import { mintContext, type GrantContext } from '../context.ts';
import { parseDelegatedScope } from '../directory.ts';
import { entraError } from '../errors.ts';
import { audiences, claimString } from '../jwt.ts';
import { requireOwnUserAssertion } from '../own-tokens.ts';
import { mintUserToken } from '../tokens.ts';
import { consentedScopes, delegatedResource, scpClaim, userFlowResponse } from './delegated.ts';

export async function onBehalfOf(ctx: GrantContext): Promise<Record<string, unknown>> {
  const clientId = ctx.form.require('client_id');
  const use = ctx.form.require('requested_token_use');
  // [inf] jwt-bearer without on_behalf_of is only the retired agent-user variant (docs/entra.md#the-agents-user-account-three-legs "Legacy"),
  // which the emulator does not support.
  if (use !== 'on_behalf_of') throw entraError(70003, `${GRANT_JWT_BEARER} (requested_token_use=${use})`);
  const assertion = ctx.form.require('assertion');
  const scope = parseDelegatedScope(ctx.form.require('scope'));
  const client = await authenticateConfidentialClient(ctx, clientId);

  // ─── Tc ───
  const tc = await requireOwnUserAssertion(ctx, assertion);
  // "Tc (aud) == Agent identity blueprint client ID" (docs/entra.md#on-behalf-of-a-user, https://learn.microsoft.com/entra/agent-id/agent-on-behalf-of-oauth-flow).
  const expected = client.blueprint.appId.toLowerCase();
  const aud = audiences(tc.claims).map((a) => a.toLowerCase());
  if (!aud.some((a) => a === expected || a === `api://${expected}`)) {
    throw entraError(
      50013,
      `Assertion audience '${aud.join(',')}' does not match the expected audience '${client.blueprint.appId}'.`,
    );
  }
  // [inf] An app-only token is not a user assertion; Entra's code for it is undocumented. `idtyp` is
  // an optional claim on user tokens (https://learn.microsoft.com/entra/identity-platform/optional-claims-reference),
  // so a token without it is a user token when it carries delegated scopes (`scp`).
  const idtyp = claimString(tc.claims, 'idtyp');
  if (idtyp === 'app' || (idtyp === undefined && claimString(tc.claims, 'scp') === undefined)) {
    throw entraError(50013, 'The assertion is not a user token.');
  }
  const oid = claimString(tc.claims, 'oid') ?? '';
  const user = ctx.tenant.humanUsers.find((u) => u.oid.toLowerCase() === oid.toLowerCase());
  // [inf] A user token for someone not (or no longer) in the tenant.
  if (!user) throw entraError(50034, oid, ctx.tenant.tenantId);

  // ─── Consent and token ───
  const resource = delegatedResource(ctx, scope);
  const granted = consentedScopes(client, user.oid, resource, scope);
  const actor = client.kind === 'agent' ? client.agent.appId : client.blueprint.appId;
  const accessToken = await mintUserToken(mintContext(ctx), resource, {
    user,
    clientId: actor,
    clientAuth: '2',
    scp: scpClaim(resource, granted, scope),
    lifetimeSec: resource.lifetimeSec,
    ...(client.kind === 'agent' ? { agent: { parentBlueprintId: client.blueprint.appId, agentUser: false } } : {}),
  });
  return userFlowResponse(ctx, {
    accessToken,
    lifetimeSec: resource.lifetimeSec,
    resourceUri: resource.uri,
    granted,
    scope,
    clientId: actor,
    user,
  });
}
