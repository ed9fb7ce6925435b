/**
 * RFC 8693 token-exchange request → a typed TokenRequest (docs/operations.md#http-api).
 * Modes: autonomous (subject_token = workload proof), OBO (subject_token = the user's token,
 * actor_token = the workload proof; RFC 8693 §1.1 delegation), agent user (agent_user named).
 */
import { GRANT_TYPE_TOKEN_EXCHANGE, MAX_PARAM_BYTES, MAX_TOKEN_BYTES, TOKEN_TYPE } from '../constants.ts';
import { BridgeError } from '../errors.ts';
import type { Mode } from '../config/schema.ts';
import type { AgentUserRef } from '../entra/types.ts';
import type { ProofInput } from '../verify/contract.ts';
import type { Form } from './form.ts';

export interface TokenRequest {
  mode: Mode;
  proof: ProofInput;
  /** OBO: the user's token. */
  userToken: string | undefined;
  /** The one resource asked for (RFC 8707 form, e.g. https://graph.microsoft.com). */
  resource: string;
  /** Scopes sent to Entra, all of that resource. */
  scopes: string[];
  agent: string | undefined;
  agentUser: AgentUserRef | undefined;
  /** The agent_user parameter as given (for policy matching and audit). */
  agentUserRaw: string | undefined;
}

const USER_TOKEN_TYPES = new Set<string>([TOKEN_TYPE.accessToken, TOKEN_TYPE.jwt]);
/** OpenID scopes Entra adds to user flows itself; allowed, never a resource. */
const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `proofTokenTypes`: the token types of every registered platform's proofs (src/platforms.ts); a type
 * of a registered but disabled platform passes here and is refused by routing (proof_unsupported).
 */
export function parseTokenRequest(form: Form, proofTokenTypes: ReadonlySet<string>): TokenRequest {
  for (const [name, value] of form) {
    const cap = name === 'subject_token' || name === 'actor_token' ? MAX_TOKEN_BYTES : MAX_PARAM_BYTES;
    if (value.length > cap)
      throw new BridgeError(
        name.endsWith('_token') ? 'proof_too_large' : 'parameter_too_large',
        `${name} is ${value.length} bytes`,
      );
  }
  const grant = form.get('grant_type');
  if (grant === undefined) throw new BridgeError('missing_parameter', 'grant_type');
  if (grant !== GRANT_TYPE_TOKEN_EXCHANGE) throw new BridgeError('unsupported_grant_type', `grant_type ${grant}`);

  const requested = form.get('requested_token_type');
  if (requested !== undefined && requested !== TOKEN_TYPE.accessToken)
    throw new BridgeError('unsupported_requested_token_type', requested);

  const subjectToken = form.get('subject_token');
  const subjectType = form.get('subject_token_type');
  if (subjectToken === undefined) throw new BridgeError('missing_parameter', 'subject_token');
  if (subjectType === undefined) throw new BridgeError('missing_parameter', 'subject_token_type');
  const actorToken = form.get('actor_token');
  const actorType = form.get('actor_token_type');
  if ((actorToken === undefined) !== (actorType === undefined))
    throw new BridgeError('missing_parameter', 'actor_token and actor_token_type go together (RFC 8693 §2.1)');
  const agentUserRaw = form.get('agent_user');

  let mode: Mode;
  let proof: ProofInput;
  let userToken: string | undefined;
  if (actorToken !== undefined) {
    if (!USER_TOKEN_TYPES.has(subjectType))
      throw new BridgeError('unsupported_token_type', `OBO subject_token_type ${subjectType}`, {
        publicDetail: expectedTypes('subject_token_type (the user token, on behalf of)', USER_TOKEN_TYPES),
      });
    if (!proofTokenTypes.has(actorType!))
      throw new BridgeError('unsupported_token_type', `actor_token_type ${actorType}`, {
        publicDetail: expectedTypes('actor_token_type (the workload proof)', proofTokenTypes),
      });
    if (agentUserRaw !== undefined)
      throw new BridgeError('invalid_mode', 'agent_user cannot be combined with an OBO actor_token');
    mode = 'obo';
    proof = { token: actorToken, tokenType: actorType! };
    userToken = subjectToken;
  } else {
    if (!proofTokenTypes.has(subjectType))
      throw new BridgeError('unsupported_token_type', `subject_token_type ${subjectType}`, {
        publicDetail: expectedTypes('subject_token_type (the workload proof)', proofTokenTypes),
      });
    mode = agentUserRaw !== undefined ? 'agent_user' : 'autonomous';
    proof = { token: subjectToken, tokenType: subjectType };
  }

  // A JWT proof's strict shape is checked where it is first decoded (src/token/exchange.ts routeProof).
  const { resource, scopes } = parseTarget(form.get('scope'), form.get('resource'), mode);
  return {
    mode,
    proof,
    userToken,
    resource,
    scopes,
    agent: form.get('audience'),
    agentUser: agentUserRaw === undefined ? undefined : parseAgentUser(agentUserRaw),
    agentUserRaw,
  };
}

/** The accepted token types are public (RFC 8693 §3 URNs of the registered platforms). */
function expectedTypes(position: string, types: ReadonlySet<string>): string {
  return `${position} must be one of: ${[...types].sort().join(', ')}.`;
}

function parseAgentUser(raw: string): AgentUserRef {
  if (GUID.test(raw)) return { oid: raw };
  if (/^[^@\s]+@[^@\s]+$/.test(raw)) return { upn: raw };
  throw new BridgeError('agent_user_not_allowed', 'agent_user must be a UPN or an object id');
}

/** The resource part of a scope: "https://graph.microsoft.com/User.Read" → "https://graph.microsoft.com". */
function resourceOfScope(scope: string): string | undefined {
  const slash = scope.lastIndexOf('/');
  if (slash <= 0 || slash === scope.length - 1) return undefined;
  const res = scope.slice(0, slash);
  return res.endsWith(':/') || res.endsWith(':') ? undefined : res;
}

/** The scope grammar is public: the caller is told which rule its scope or resource broke. */
function scopeError(rule: string): BridgeError {
  return new BridgeError('invalid_scope', rule, { publicDetail: rule });
}

function parseTarget(
  scopeParam: string | undefined,
  resourceParam: string | undefined,
  mode: Mode,
): { resource: string; scopes: string[] } {
  if (resourceParam !== undefined) {
    // RFC 8707 §2: an absolute URI without a fragment.
    let ok = false;
    try {
      const u = new URL(resourceParam);
      ok = u.hash === '' && !resourceParam.endsWith('/.default');
    } catch {
      ok = false;
    }
    if (!ok) throw scopeError('resource must be an absolute URI without a fragment, e.g. https://graph.microsoft.com.');
  }
  if (scopeParam === undefined) {
    if (resourceParam === undefined)
      throw scopeError('Send scope (e.g. https://graph.microsoft.com/.default) or resource.');
    return { resource: resourceParam, scopes: [`${resourceParam}/.default`] };
  }
  const all = scopeParam.split(' ').filter((s) => s !== '');
  const resourceScopes = all.filter((s) => !OIDC_SCOPES.has(s));
  if (resourceScopes.length === 0) throw scopeError('scope must name a resource scope, <resource>/<name>.');
  if (mode === 'autonomous' && all.length !== resourceScopes.length)
    throw scopeError('openid, profile, offline_access and email are for user flows (OBO, agent user) only.');
  const resources = new Set(resourceScopes.map(resourceOfScope));
  if (resources.has(undefined)) throw scopeError('Every scope must be <resource>/<name>.');
  if (resourceParam !== undefined) resources.add(resourceParam);
  if (resources.size !== 1) throw new BridgeError('multiple_resources', `${resources.size} resources requested`);
  const resource = [...resources][0]!;
  // App-only agent requests must use <resource>/.default (AADSTS1002012, docs/entra.md#the-token-endpoint).
  if (mode === 'autonomous' && (resourceScopes.length !== 1 || !resourceScopes[0]!.endsWith('/.default'))) {
    throw scopeError('Autonomous mode takes exactly one <resource>/.default scope.');
  }
  return { resource, scopes: all };
}
