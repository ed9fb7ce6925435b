/**
 * grant_type=client_credentials (docs/entra.md#autonomous-two-legs, docs/entra.md#the-agents-user-account-three-legs leg 2, docs/entra.md#blueprint-only-tokens):
 *  - blueprint + fmi_path + <cloud token-exchange URI>/.default → T1 (leg 1);
 *  - blueprint, no fmi_path, Graph/.default → the blueprint's own Graph token (docs/entra.md#blueprint-only-tokens);
 *  - agent identity (client_assertion = T1) + <cloud token-exchange URI>/.default → T2;
 *  - agent identity + <resource>/.default → TR, the app-only resource token (leg 2).
 */
import { APP_ONLY_AGENT_TOKEN_LIFETIME_SEC, EXCHANGE_TOKEN_LIFETIME_SEC } from '../constants.ts';
import { authenticateConfidentialClient } from '../client-auth.ts';
import { mintContext, type GrantContext } from '../context.ts';
import { findAgent, findResource, isGraph, parseAppOnlyScope } from '../directory.ts';
import { entraError } from '../errors.ts';
import { mintAppToken, mintT1, mintT2, tokenResponse } from '../tokens.ts';

export async function clientCredentials(ctx: GrantContext): Promise<Record<string, unknown>> {
  const clientId = ctx.form.require('client_id');
  const scope = ctx.form.require('scope');
  const resourceId = parseAppOnlyScope(scope);
  const client = await authenticateConfidentialClient(ctx, clientId);
  const resolved = findResource(ctx.tenant, resourceId, ctx.tokenExchangeUri);
  if (!resolved) throw entraError(500011, resourceId, ctx.tenant.tenantId);
  const fmiPath = ctx.form.get('fmi_path');
  const mint = mintContext(ctx);

  if (client.kind === 'blueprint') {
    const bp = client.blueprint;
    if (resolved.kind === 'exchange') {
      // [inf] A blueprint's token-exchange token is only ever minted for an agent (leg 1 needs fmi_path).
      if (fmiPath === undefined) throw entraError(900144, 'fmi_path');
      const agent = findAgent(ctx.tenant, fmiPath);
      // A blueprint impersonates only its own children (docs/entra.md#objects-and-identifiers). [inf] Entra's code for a foreign or
      // unknown fmi_path is undocumented: answered like an unknown application.
      if (!agent || agent.parentBlueprintId.toLowerCase() !== bp.appId.toLowerCase()) {
        throw entraError(700016, fmiPath, ctx.tenant.tenantId);
      }
      return tokenResponse(await mintT1(mint, bp, agent.appId), EXCHANGE_TOKEN_LIFETIME_SEC);
    }
    // docs/entra.md#blueprint-only-tokens: without fmi_path a blueprint may get Graph app-only (to manage its agents); nothing else.
    if (fmiPath === undefined && isGraph(resolved.resource)) {
      const who = { appId: bp.appId, oid: bp.principalId, displayName: bp.displayName };
      return tokenResponse(await mintAppToken(mint, who, resolved.resource, []), resolved.resource.lifetimeSec);
    }
    throw entraError(82001, bp.appId, resourceId);
  }

  // Agent identity. [inf] fmi_path is a blueprint-side parameter; an agent's is ignored.
  const agent = client.agent;
  if (resolved.kind === 'exchange') return tokenResponse(await mintT2(mint, agent), EXCHANGE_TOKEN_LIFETIME_SEC);
  const resource = resolved.resource;
  const roles = agent.appRoles[resource.uri] ?? agent.appRoles[resource.appId] ?? [];
  const who = {
    appId: agent.appId,
    oid: agent.appId,
    displayName: agent.displayName,
    parentBlueprintId: agent.parentBlueprintId,
  };
  // Graph app-only agent tokens: 3900 s as captured (APP_ONLY_AGENT_TOKEN_LIFETIME_SEC, UNSURE), not
  // the resource's delegated lifetime. Other resources keep theirs.
  const lifetimeSec = isGraph(resource) ? APP_ONLY_AGENT_TOKEN_LIFETIME_SEC : resource.lifetimeSec;
  return tokenResponse(await mintAppToken(mint, who, resource, roles, lifetimeSec), lifetimeSec);
}
