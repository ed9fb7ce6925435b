/**
 * grant_type=password (ROPC), used only to mint the human user's token Tc that OBO needs (docs/entra.md#on-behalf-of-a-user step 1).
 * ROPC is real Entra behaviour, but Microsoft discourages it (no MFA, no conditional access); the
 * sandbox uses it because a test cannot drive a browser sign-in.
 *
 * The client is a registered (public) client app, and the scope must name scopes a blueprint exposes
 * under api://<blueprint appId>, so Tc's audience is that blueprint. Client-app consent is not modelled.
 */
import { USER_TOKEN_LIFETIME_SEC } from '../constants.ts';
import { mintContext, type GrantContext } from '../context.ts';
import { findBlueprint, findClient, parseDelegatedScope } from '../directory.ts';
import { entraError } from '../errors.ts';
import { mintBlueprintUserToken } from '../tokens.ts';
import { userFlowResponse } from './delegated.ts';

export async function password(ctx: GrantContext): Promise<Record<string, unknown>> {
  const clientId = ctx.form.require('client_id');
  const username = ctx.form.require('username');
  const secret = ctx.form.require('password');
  const scope = parseDelegatedScope(ctx.form.require('scope'));

  const client = findClient(ctx.tenant, clientId);
  // [inf] Blueprints and agents are confidential and the emulator has no ROPC for them.
  if (client.kind !== 'clientApp') throw entraError(7000218);
  if (ctx.form.get('client_secret') !== undefined || ctx.form.get('client_assertion') !== undefined)
    throw entraError(700025);

  // The resource must be a blueprint's API (api://<appId>), and every scope one it exposes.
  const bpAppId = scope.resourceId.startsWith('api://') ? scope.resourceId.slice('api://'.length) : undefined;
  const bp = bpAppId === undefined ? undefined : findBlueprint(ctx.tenant, bpAppId);
  if (!bp) {
    // A known non-blueprint resource is outside what the emulator mints with ROPC.
    if (bpAppId === undefined) throw entraError(70011, scope.resourceId);
    throw entraError(500011, scope.resourceId, ctx.tenant.tenantId);
  }
  const granted: string[] = [];
  for (const name of scope.names) {
    if (name === '.default') {
      for (const s of bp.exposedScopes) if (!granted.includes(s)) granted.push(s);
      continue;
    }
    const exposed = bp.exposedScopes.find((s) => s.toLowerCase() === name.toLowerCase());
    if (!exposed) throw entraError(70011, `${scope.resourceId}/${name}`);
    if (!granted.includes(exposed)) granted.push(exposed);
  }
  if (granted.length === 0) throw entraError(70011, scope.resourceId);

  const lower = username.toLowerCase();
  const user = ctx.tenant.humanUsers.find((u) => u.upn.toLowerCase() === lower);
  if (!user) {
    // Agent users have no password (they never sign in interactively, docs/entra.md#objects-and-identifiers), so they fail like a bad password.
    if (ctx.tenant.agentUsers.some((u) => u.upn.toLowerCase() === lower)) throw entraError(50126);
    throw entraError(50034, username, ctx.tenant.tenantId);
  }
  if (user.password !== secret) throw entraError(50126);

  const accessToken = await mintBlueprintUserToken(mintContext(ctx), bp.appId, {
    user,
    clientId: client.appId,
    clientAuth: '0',
    scp: granted,
    lifetimeSec: USER_TOKEN_LIFETIME_SEC,
  });
  return userFlowResponse(ctx, {
    accessToken,
    lifetimeSec: USER_TOKEN_LIFETIME_SEC,
    resourceUri: `api://${bp.appId}`,
    granted,
    scope,
    clientId: client.appId,
    user,
  });
}
