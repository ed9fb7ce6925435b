/**
 * The directory the Entra emulator knows: tenants, agent identity blueprints with their federated
 * identity credentials, agent identities, agent users, human users, client apps and resources.
 * Shapes follow docs/entra.md#objects-and-identifiers and docs/entra.md#federated-credential-matching.
 */

export interface EmulatedFic {
  name: string;
  issuer: string;
  subject: string;
  /** Exactly one audience, as Entra allows (docs/entra.md#federated-credential-matching). */
  audiences: [string];
}

export interface EmulatedBlueprint {
  appId: string;
  displayName: string;
  /** Service principal object id of the blueprint in this tenant. */
  principalId: string;
  fics: EmulatedFic[];
  /** Delegated scopes the blueprint exposes under api://<appId> (e.g. "access_agent"). */
  exposedScopes: string[];
}

export interface EmulatedAgent {
  /** Agent identity client id; equal to its service principal object id (docs/entra.md#objects-and-identifiers). */
  appId: string;
  displayName: string;
  parentBlueprintId: string;
  /** App-only permissions granted to the agent, by resource URI: {"https://graph.microsoft.com": ["User.Read.All"]}. */
  appRoles: Record<string, string[]>;
  /** Delegated grants (oAuth2PermissionGrant, consentType=Principal): who, which resource, which scopes. */
  delegatedGrants: { principalId: string; resource: string; scopes: string[] }[];
}

export interface EmulatedAgentUser {
  oid: string;
  upn: string;
  displayName: string;
  /** The agent identity this agent user belongs to (identityParentId). */
  identityParentId: string;
}

export interface EmulatedHumanUser {
  oid: string;
  upn: string;
  displayName: string;
  /** Sandbox only: lets the emulator sign the user in (ROPC) to mint the user token OBO needs. */
  password: string;
}

/** A public client app the human user signs in to (its token's audience is a blueprint). */
export interface EmulatedClientApp {
  appId: string;
  displayName: string;
}

export interface EmulatedResource {
  /** Resource URI as requested in scopes, e.g. "https://graph.microsoft.com". */
  uri: string;
  appId: string;
  /** Graph issues v1 tokens (iss https://sts.windows.net/<tid>/); other resources may be v2. */
  accessTokenVersion: 1 | 2;
  /** Lifetime of this resource's delegated and non-Graph tokens, seconds (Graph: 29100, others ~3599; docs/entra.md#lifetimes); Graph app-only agent tokens use APP_ONLY_AGENT_TOKEN_LIFETIME_SEC. */
  lifetimeSec: number;
}

export interface EmulatedTenant {
  tenantId: string;
  blueprints: EmulatedBlueprint[];
  agents: EmulatedAgent[];
  agentUsers: EmulatedAgentUser[];
  humanUsers: EmulatedHumanUser[];
  clientApps: EmulatedClientApp[];
  resources: EmulatedResource[];
}
