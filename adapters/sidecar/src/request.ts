/**
 * What a caller of Microsoft's sidecar API asks for, turned into one exchange at the bridge.
 *
 * The wire is Microsoft's: GET /AuthorizationHeaderUnauthenticated/{serviceName} and
 * GET /AuthorizationHeader/{serviceName} with the query parameters AgentIdentity, AgentUsername,
 * AgentUserId and optionsOverride.* (https://learn.microsoft.com/en-us/entra/msidweb/agent-id-sdk/endpoints,
 * https://learn.microsoft.com/en-us/entra/msidweb/agent-id-sdk/agent-identities), as the Agents SDK's
 * SidecarHttpClient.buildUrl sends them (@microsoft/agents-hosting src/auth/sidecar/sidecarHttpClient.ts).
 * Query names are matched without regard to case, as ASP.NET Core binds them.
 *
 * Modes (docs/sidecar.md#modes): an app token (optionsOverride.RequestAppToken=true, or
 * AgentIdentity alone) is the bridge's autonomous mode; AgentUsername / AgentUserId its agent_user
 * mode; the authenticated form with the user's token in Authorization its obo mode.
 */
import { BLUEPRINT_SERVICE_NAME, GRAPH_RESOURCE, OIDC_SCOPES, TOKEN_EXCHANGE_RESOURCE_PREFIX } from './constants.ts';
import { invalidParameter, SidecarProblem } from './problem.ts';

export type Route = 'unauthenticated' | 'authenticated';
export type Mode = 'autonomous' | 'agent_user' | 'obo';

export interface SidecarQuery {
  agentIdentity: string | undefined;
  agentUsername: string | undefined;
  agentUserId: string | undefined;
  /** optionsOverride.Scopes, every occurrence, each split on whitespace, in order. */
  scopes: string[];
  requestAppToken: boolean | undefined;
  tenant: string | undefined;
  forceRefresh: boolean;
}

/** A service name's configured defaults (docs/sidecar.md#configuration). */
export interface ServiceDefaults {
  scopes: string[];
  requestAppToken?: boolean;
  /** The configuration key the scopes came from, for error titles. */
  source: string;
}

/** One exchange at the bridge, in the terms of the client packages' `getToken`. */
export interface ExchangePlan {
  mode: Mode;
  resource: string;
  /** Space-separated, all of `resource`. */
  scope: string;
  agent: string | undefined;
  agentUser: string | undefined;
  userToken: string | undefined;
  /** A tenant id (GUID) the token must be of; other tenant names are not checked (docs/sidecar.md). */
  tenant: string | undefined;
  forceRefresh: boolean;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The single-valued parameters, by their lower-case name. */
type SingleField = 'agentIdentity' | 'agentUsername' | 'agentUserId' | 'requestAppToken' | 'tenant' | 'forceRefresh';
const SINGLE: Record<string, SingleField> = {
  agentidentity: 'agentIdentity',
  agentusername: 'agentUsername',
  agentuserid: 'agentUserId',
  'optionsoverride.requestapptoken': 'requestAppToken',
  'optionsoverride.acquiretokenoptions.tenant': 'tenant',
  'optionsoverride.acquiretokenoptions.forcerefresh': 'forceRefresh',
};
const SCOPES = 'optionsoverride.scopes';

/**
 * Overrides a token from this sidecar cannot honour: a PoP-bound token, or a claims challenge.
 * Silently dropping them would hand out a token that does not do what was asked.
 */
const UNSUPPORTED: Record<string, string> = {
  'optionsoverride.acquiretokenoptions.poppublickey':
    'agent-id-bridge-sidecar issues Bearer tokens only: remove optionsOverride.AcquireTokenOptions.PopPublicKey',
  'optionsoverride.acquiretokenoptions.popclaims':
    'agent-id-bridge-sidecar issues Bearer tokens only: remove optionsOverride.AcquireTokenOptions.PopClaims',
  'optionsoverride.acquiretokenoptions.claims':
    'agent-id-bridge-sidecar cannot pass a claims challenge to Entra: remove optionsOverride.AcquireTokenOptions.Claims',
};

export function parseQuery(params: URLSearchParams): SidecarQuery {
  const q: SidecarQuery = {
    agentIdentity: undefined,
    agentUsername: undefined,
    agentUserId: undefined,
    scopes: [],
    requestAppToken: undefined,
    tenant: undefined,
    forceRefresh: false,
  };
  const seen = new Set<string>();
  for (const [rawName, value] of params) {
    const name = rawName.toLowerCase();
    if (name === SCOPES) {
      q.scopes.push(...value.split(/\s+/).filter((s) => s !== ''));
      continue;
    }
    const unsupported = UNSUPPORTED[name];
    if (unsupported !== undefined) throw new SidecarProblem('unsupported_option', 400, unsupported);
    const field = SINGLE[name];
    // Everything else (optionsOverride.BaseUrl, RelativePath, HttpMethod, CorrelationId ...) shapes a
    // downstream call or MSAL's credential choice, neither of which this sidecar makes: ignored.
    if (field === undefined) continue;
    if (seen.has(name)) throw invalidParameter(`${rawName} was given more than once: send it once`);
    seen.add(name);
    if (field === 'requestAppToken' || field === 'forceRefresh') {
      const flag = parseBoolean(rawName, value);
      if (field === 'requestAppToken') q.requestAppToken = flag;
      else q.forceRefresh = flag;
    } else if (value.trim() !== '') {
      q[field] = value.trim();
    }
  }
  return q;
}

/** As ASP.NET Core binds a bool: true or false, in any case. */
function parseBoolean(name: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw invalidParameter(`${name} must be true or false`);
}

/** The resource part of `<resource>/<name>`, or undefined when the scope has no resource. */
export function resourceOfScope(scope: string): string | undefined {
  const slash = scope.lastIndexOf('/');
  if (slash <= 0 || slash === scope.length - 1) return undefined;
  const resource = scope.slice(0, slash);
  return resource.endsWith(':/') || resource.endsWith(':') ? undefined : resource;
}

/** A resource on its own: an application id, or an absolute URI without a path (https://graph.microsoft.com, api://my-api). */
function isBareResource(scope: string): boolean {
  if (GUID.test(scope)) return true;
  let url: URL;
  try {
    url = new URL(scope);
  } catch {
    return false;
  }
  return url.search === '' && url.hash === '' && (url.pathname === '' || url.pathname === '/') && url.host !== '';
}

/**
 * The scopes as the bridge takes them (docs/sidecar.md#scopes): the scope form Entra and Microsoft's
 * sidecar accept, spelled out.
 * - A bare resource (https://graph.microsoft.com, an application id) means `<resource>/.default`, as
 *   the Agents SDK itself appends /.default to a resource it asks an app token for
 *   (@microsoft/agents-hosting src/auth/msal/msalTokenProvider.ts, getAccessToken).
 * - A permission without a resource (User.Read) is Microsoft Graph's, as Entra reads it.
 * - An app token takes `<resource>/.default` only: Microsoft's sidecar refuses anything else
 *   (Microsoft.Identity.Web IDW10404, "'scope' parameter should be of the form 'AppIdUri/.default'").
 * - One token is for one resource: several scopes of one resource are one request; scopes of
 *   several resources are refused (Entra answers AADSTS28000 to such a request).
 * Duplicates are dropped; order is kept.
 */
export function normaliseScopes(scopes: readonly string[], appToken: boolean): { resource: string; scopes: string[] } {
  const out: string[] = [];
  for (const raw of scopes) {
    let scope = raw;
    if (OIDC_SCOPES.has(scope.toLowerCase())) {
      if (appToken)
        throw new SidecarProblem(
          'app_token_scope',
          400,
          `An app token takes one <resource>/.default scope; ${scope} is for user sign-in only: remove it`,
        );
      scope = scope.toLowerCase();
    } else if (/\/\.default$/i.test(scope)) {
      scope = `${scope.slice(0, -'/.default'.length)}/.default`;
    } else if (isBareResource(scope)) {
      scope = `${scope.replace(/\/$/, '')}/.default`;
    } else if (!scope.includes('/') && !scope.includes(':')) {
      scope = `${GRAPH_RESOURCE}/${scope}`;
    }
    if (appToken && !scope.endsWith('/.default')) {
      const resource = resourceOfScope(scope);
      throw new SidecarProblem(
        'app_token_scope',
        400,
        `An app token takes one <resource>/.default scope, not ${raw}: ask for ${resource ?? '<resource>'}/.default (or send RequestAppToken=false with AgentUsername/AgentUserId for a user token)`,
      );
    }
    if (!out.includes(scope)) out.push(scope);
  }
  const resources = [...new Set(out.filter((s) => !OIDC_SCOPES.has(s)).map(resourceOfScope))];
  if (resources.length === 0)
    throw new SidecarProblem(
      'no_scopes',
      400,
      'No resource scope was asked for: send optionsOverride.Scopes=<resource>/.default',
    );
  if (resources.includes(undefined))
    throw invalidParameter(
      `A scope must be <resource>/<permission>, <resource>/.default, a resource URI or a Graph permission: ${out.find((s) => !OIDC_SCOPES.has(s) && resourceOfScope(s) === undefined)} is none of them`,
    );
  if (resources.length > 1)
    throw new SidecarProblem(
      'multiple_resources',
      400,
      `One token is for one resource, and these scopes name ${resources.length} (${resources.join(', ')}): ask for each resource in its own request`,
    );
  return { resource: resources[0]!, scopes: out };
}

/** The blueprint token (the token-exchange resource) is never handed out, whatever it is asked under. */
export function isBlueprintRequest(serviceName: string, scopes: readonly string[]): boolean {
  if (serviceName.toLowerCase() === BLUEPRINT_SERVICE_NAME) return true;
  return scopes.some((s) => s.toLowerCase().startsWith(TOKEN_EXCHANGE_RESOURCE_PREFIX));
}

export const BLUEPRINT_REFUSAL = new SidecarProblem(
  'blueprint_token_refused',
  403,
  'agent-id-bridge-sidecar never hands out the blueprint token (agenticblueprint, api://AzureADTokenExchange): the bridge does that exchange itself. Ask for the downstream API instead, e.g. /AuthorizationHeaderUnauthenticated/<service>?AgentIdentity=<agent id>&optionsOverride.RequestAppToken=true',
  {
    detail:
      "Microsoft's clients ask for it only to run the blueprint → agent exchange in-process (getAgenticApplicationToken); with this sidecar that exchange happens at agent-id-bridge.",
  },
);

/**
 * The exchange a request asks for. `authorization` is the request's Authorization header (the
 * authenticated route only); `defaults` the service name's configured defaults, if any.
 */
export function planExchange(
  route: Route,
  serviceName: string,
  query: SidecarQuery,
  authorization: string | undefined,
  defaults: ServiceDefaults | undefined,
): ExchangePlan {
  const requested = query.scopes.length > 0 ? query.scopes : (defaults?.scopes ?? []);
  if (isBlueprintRequest(serviceName, requested)) throw BLUEPRINT_REFUSAL;

  if (query.agentUsername !== undefined && query.agentUserId !== undefined)
    throw invalidParameter('AgentUsername and AgentUserId are mutually exclusive: send one of them');
  if (query.agentUserId !== undefined && !GUID.test(query.agentUserId))
    throw invalidParameter("AgentUserId must be the agent user's object id (a GUID); for a UPN use AgentUsername");
  if (query.agentUsername !== undefined && !/^[^@\s]+@[^@\s]+$/.test(query.agentUsername))
    throw invalidParameter(
      "AgentUsername must be the agent user's UPN (name@domain); for an object id use AgentUserId",
    );
  if (query.agentIdentity !== undefined && !GUID.test(query.agentIdentity))
    throw invalidParameter("AgentIdentity must be the agent identity's client id (a GUID)");
  const agentUser = query.agentUsername ?? query.agentUserId;
  const appToken = query.requestAppToken ?? defaults?.requestAppToken;
  if (appToken === true && agentUser !== undefined)
    throw invalidParameter(
      'RequestAppToken=true asks for an app token, AgentUsername/AgentUserId for the agent user’s token: send one or the other',
    );

  let mode: Mode;
  let userToken: string | undefined;
  if (agentUser !== undefined) mode = 'agent_user';
  else if (route === 'authenticated' && appToken !== true) {
    mode = 'obo';
    userToken = bearerToken(authorization);
  } else mode = 'autonomous';

  if (requested.length === 0)
    throw new SidecarProblem(
      'no_scopes',
      400,
      `No scopes for service name '${serviceName}': set ${serviceScopesVariable(serviceName)}="<resource>/.default" where agent-id-bridge-sidecar runs, or send optionsOverride.Scopes`,
    );
  const { resource, scopes } = normaliseScopes(requested, mode === 'autonomous');
  if (isBlueprintRequest(serviceName, scopes)) throw BLUEPRINT_REFUSAL;
  return {
    mode,
    resource,
    scope: scopes.join(' '),
    agent: query.agentIdentity,
    agentUser,
    userToken,
    tenant: query.tenant !== undefined && GUID.test(query.tenant) ? query.tenant.toLowerCase() : undefined,
    forceRefresh: query.forceRefresh,
  };
}

function bearerToken(authorization: string | undefined): string {
  const m = authorization === undefined ? null : /^Bearer[ \t]+([^ \t].*)$/i.exec(authorization.trim());
  if (!m)
    throw new SidecarProblem(
      'user_token_required',
      401,
      "GET /AuthorizationHeader/{serviceName} acts on behalf of a user: send the user's token as 'Authorization: Bearer <token>', or call /AuthorizationHeaderUnauthenticated/{serviceName} for an app or agent user token",
    );
  return m[1]!.trim();
}

/** AGENT_ID_BRIDGE_SCOPES_<SERVICENAME>: the service name upper-cased, every other character than A-Z and 0-9 as `_`. */
export function serviceScopesVariable(serviceName: string): string {
  return `AGENT_ID_BRIDGE_SCOPES_${serviceName.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}
