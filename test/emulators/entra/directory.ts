/**
 * Lookups in the emulated directory: tenants from the path, clients, resources, scopes and consent
 * (docs/entra.md#objects-and-identifiers, docs/entra.md#the-token-endpoint, docs/entra.md#error-codes).
 */
import type { EmulatedAgent, EmulatedBlueprint, EmulatedResource, EmulatedTenant } from './model.ts';
import { GRAPH_APP_ID, GRAPH_URI, OIDC_SCOPES, TOKEN_EXCHANGE_APP_ID } from './constants.ts';
import { entraError } from './errors.ts';
import { isGuid } from './guid.ts';

// ─── Tenants ───

export const MULTI_TENANT_ALIASES = new Set(['common', 'organizations', 'consumers']);
const DNS_NAME_RE = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/i;

/**
 * The tenant named in the path, or the Entra error for it: a GUID or a DNS name is a well-formed
 * identifier (unknown → AADSTS90002), anything else is malformed (AADSTS900023). The aliases
 * common/organizations/consumers are refused by the caller (AADSTS9001023).
 */
export function resolveTenant(tenants: ReadonlyMap<string, EmulatedTenant>, raw: string): EmulatedTenant {
  if (!isGuid(raw) && !DNS_NAME_RE.test(raw)) throw entraError(900023, raw);
  // The emulated directory knows tenants by id only; tenant domain names are well-formed but unknown.
  const tenant = tenants.get(raw.toLowerCase());
  if (!tenant) throw entraError(90002, raw);
  return tenant;
}

// ─── Clients ───

export type DirectoryClient =
  | { kind: 'blueprint'; blueprint: EmulatedBlueprint }
  | { kind: 'agent'; agent: EmulatedAgent; blueprint: EmulatedBlueprint }
  | { kind: 'clientApp'; appId: string };

const sameId = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

export function findBlueprint(tenant: EmulatedTenant, appId: string): EmulatedBlueprint | undefined {
  return tenant.blueprints.find((b) => sameId(b.appId, appId));
}

export function findAgent(tenant: EmulatedTenant, appId: string): EmulatedAgent | undefined {
  return tenant.agents.find((a) => sameId(a.appId, appId));
}

/** The application registered under `client_id`, or AADSTS700016. */
export function findClient(tenant: EmulatedTenant, clientId: string): DirectoryClient {
  const blueprint = findBlueprint(tenant, clientId);
  if (blueprint) return { kind: 'blueprint', blueprint };
  const agent = findAgent(tenant, clientId);
  if (agent) {
    const parent = findBlueprint(tenant, agent.parentBlueprintId);
    // An agent identity always has exactly one blueprint (docs/entra.md#objects-and-identifiers); one without it cannot authenticate at all.
    if (!parent) throw entraError(700016, clientId, tenant.tenantId);
    return { kind: 'agent', agent, blueprint: parent };
  }
  const app = tenant.clientApps.find((c) => sameId(c.appId, clientId));
  if (app) return { kind: 'clientApp', appId: app.appId };
  throw entraError(700016, clientId, tenant.tenantId);
}

// ─── Resources ───

export type ResolvedResource = { kind: 'exchange' } | { kind: 'resource'; resource: EmulatedResource };

/**
 * A resource by URI or appId: the token-exchange app (under this cloud's URI, `exchangeUri`), or one
 * of the tenant's resource principals. [inf] Another cloud's token-exchange URI is an unknown resource.
 */
export function findResource(tenant: EmulatedTenant, id: string, exchangeUri: string): ResolvedResource | undefined {
  if (id === exchangeUri || sameId(id, TOKEN_EXCHANGE_APP_ID)) return { kind: 'exchange' };
  const resource = tenant.resources.find((r) => r.uri === id || sameId(r.appId, id));
  return resource ? { kind: 'resource', resource } : undefined;
}

export function isGraph(resource: EmulatedResource): boolean {
  return resource.uri === GRAPH_URI || sameId(resource.appId, GRAPH_APP_ID);
}

// ─── Scopes ───

const splitScopes = (scope: string): string[] => scope.split(/\s+/).filter((s) => s.length > 0);

/**
 * App-only scope (client credentials): exactly one `<resource>/.default` (docs/entra.md#the-token-endpoint, https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow). A granular
 * scope → AADSTS1002012; several resources → AADSTS70011. Returns the resource identifier.
 */
export function parseAppOnlyScope(scope: string): string {
  const items = splitScopes(scope);
  if (items.length === 0) throw entraError(900144, 'scope');
  const granular = items.find((s) => !s.endsWith('/.default'));
  if (granular !== undefined) throw entraError(1002012, granular);
  const resources = new Set(items.map((s) => s.slice(0, -'/.default'.length)));
  if (resources.size !== 1) throw entraError(70011, scope);
  return [...resources][0]!;
}

export interface DelegatedScope {
  /** Resource identifier (URI or appId) the non-OIDC scopes belong to. */
  resourceId: string;
  /** Scope names on that resource; `.default` means "whatever is granted". */
  names: string[];
  /** openid / profile / offline_access / email, as requested. */
  oidc: string[];
}

/**
 * Delegated scopes (OBO, user_fic, ROPC): one resource plus OIDC scopes. A bare name ("User.Read")
 * is a Microsoft Graph scope, as in Entra. Several resources, or none, → AADSTS70011.
 */
export function parseDelegatedScope(scope: string): DelegatedScope {
  const items = splitScopes(scope);
  if (items.length === 0) throw entraError(900144, 'scope');
  const oidc: string[] = [];
  const byResource = new Map<string, string[]>();
  for (const item of items) {
    if (OIDC_SCOPES.has(item.toLowerCase())) {
      oidc.push(item.toLowerCase());
      continue;
    }
    const cut = item.lastIndexOf('/');
    const resourceId = cut > 0 ? item.slice(0, cut) : GRAPH_URI;
    const name = cut > 0 ? item.slice(cut + 1) : item;
    if (name.length === 0) throw entraError(70011, item);
    byResource.set(resourceId, [...(byResource.get(resourceId) ?? []), name]);
  }
  // [inf] A request with OIDC scopes only has no resource to issue an access token for.
  if (byResource.size !== 1) throw entraError(70011, scope);
  const [[resourceId, names]] = [...byResource] as [[string, string[]]];
  return { resourceId, names, oidc };
}

/**
 * Delegated consent (oAuth2PermissionGrant, consentType=Principal, docs/entra.md#the-agents-user-account-three-legs): the scopes granted to
 * `principalId` on `resource`, restricted to the request. `.default` asks for everything granted.
 * Null when anything requested is not granted (→ AADSTS65001).
 */
export function grantedScopes(
  grants: EmulatedAgent['delegatedGrants'],
  principalId: string,
  resource: EmulatedResource,
  requested: string[],
): string[] | null {
  const granted = grants
    .filter(
      (g) => sameId(g.principalId, principalId) && (g.resource === resource.uri || sameId(g.resource, resource.appId)),
    )
    .flatMap((g) => g.scopes);
  const lookup = (name: string): string | undefined => granted.find((g) => g.toLowerCase() === name.toLowerCase());
  const specific = requested.filter((n) => n !== '.default');
  const result: string[] = [];
  for (const name of specific) {
    const hit = lookup(name);
    if (hit === undefined) return null;
    if (!result.includes(hit)) result.push(hit);
  }
  if (requested.includes('.default')) {
    if (granted.length === 0) return null;
    for (const g of granted) if (!result.includes(g)) result.push(g);
  }
  return result.length > 0 ? result : null;
}
