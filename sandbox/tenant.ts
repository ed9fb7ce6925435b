/**
 * The sandbox directory: one fake tenant with one blueprint, two child agent identities, an agent
 * user, a human user and the client app she signs in to. All ids are fixed so scripts and docs can
 * name them; none of them exists in any real tenant.
 */
import type { EmulatedTenant } from '../test/emulators/entra/model.ts';

export const SANDBOX = {
  tenantId: '5a4d0b1e-0000-4000-8000-00000000a11d',
  blueprintId: 'b1e00000-0000-4000-8000-000000000001',
  blueprintPrincipalId: 'b1e00000-0000-4000-8000-0000000000f1',
  /** The agent the sandbox GCP service account is mapped to. */
  agentId: 'a9e00000-0000-4000-8000-000000000001',
  /** A second child agent no sandbox workload may use (for refusal demos). */
  otherAgentId: 'a9e00000-0000-4000-8000-000000000002',
  agentUser: { oid: 'a9e00ee4-0000-4000-8000-000000000001', upn: 'agent-one@sandbox.example' },
  humanUser: {
    oid: 'd0d0d0d0-0000-4000-8000-000000000001',
    upn: 'alice@sandbox.example',
    password: 'sandbox-only-password',
  },
  clientAppId: 'c1c1c1c1-0000-4000-8000-000000000001',
  graph: 'https://graph.microsoft.com',
  api: 'api://sandbox-api',
  /** Client id of the sandbox API: the `aud` of its v2 tokens, which a downstream validator checks. */
  apiAppId: 'e0e0e0e0-0000-4000-8000-000000000001',
} as const;

export const SANDBOX_FIC_SUBJECT = `agent-id-bridge:${SANDBOX.blueprintId}`;

/**
 * The tenant, with the blueprint's FIC pointing at `bridgeIssuer` (known once the bridge listens) and
 * carrying the cloud's token-exchange audience (the public cloud's unless a test says otherwise).
 */
export function sandboxTenant(
  bridgeIssuer: string,
  tokenExchangeAudience = 'api://AzureADTokenExchange',
): EmulatedTenant {
  return {
    tenantId: SANDBOX.tenantId,
    blueprints: [
      {
        appId: SANDBOX.blueprintId,
        displayName: 'Sandbox blueprint',
        principalId: SANDBOX.blueprintPrincipalId,
        fics: [
          {
            name: 'agent-id-bridge',
            issuer: bridgeIssuer,
            subject: SANDBOX_FIC_SUBJECT,
            audiences: [tokenExchangeAudience],
          },
        ],
        exposedScopes: ['access_agent'],
      },
    ],
    agents: [
      {
        appId: SANDBOX.agentId,
        displayName: 'Sandbox agent one',
        parentBlueprintId: SANDBOX.blueprintId,
        appRoles: { [SANDBOX.graph]: ['User.Read.All'], [SANDBOX.api]: ['Orders.Read'] },
        delegatedGrants: [
          { principalId: SANDBOX.humanUser.oid, resource: SANDBOX.graph, scopes: ['User.Read', 'Mail.Read'] },
          { principalId: SANDBOX.agentUser.oid, resource: SANDBOX.graph, scopes: ['User.Read', 'Mail.Send'] },
        ],
      },
      {
        appId: SANDBOX.otherAgentId,
        displayName: 'Sandbox agent two',
        parentBlueprintId: SANDBOX.blueprintId,
        appRoles: { [SANDBOX.graph]: ['Directory.Read.All'] },
        delegatedGrants: [],
      },
    ],
    agentUsers: [
      {
        oid: SANDBOX.agentUser.oid,
        upn: SANDBOX.agentUser.upn,
        displayName: 'Agent One (user)',
        identityParentId: SANDBOX.agentId,
      },
    ],
    humanUsers: [
      {
        oid: SANDBOX.humanUser.oid,
        upn: SANDBOX.humanUser.upn,
        displayName: 'Alice',
        password: SANDBOX.humanUser.password,
      },
    ],
    clientApps: [{ appId: SANDBOX.clientAppId, displayName: 'Sandbox client app' }],
    resources: [
      { uri: SANDBOX.graph, appId: '00000003-0000-0000-c000-000000000000', accessTokenVersion: 1, lifetimeSec: 29100 },
      { uri: SANDBOX.api, appId: SANDBOX.apiAppId, accessTokenVersion: 2, lifetimeSec: 3599 },
    ],
  };
}
