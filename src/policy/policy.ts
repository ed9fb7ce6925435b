/**
 * The trust policy: compiled once at load (an invalid policy refuses to start), evaluated per
 * request, default deny. Each rule maps a verified workload to exactly one agent identity with
 * its allowed resources, modes and agent users. Entra cannot tell callers apart (one FIC per
 * blueprint), so this is the only gate between a workload and an agent identity (docs/architecture.md#the-trust-policy).
 */
import type { ReasonCode } from '../errors.ts';
import type { RuleProblem, VerifiedWorkload } from '../verify/contract.ts';
import type { Mode, PolicyFile, RuleInput } from '../config/schema.ts';
import { compileDenyList, type DenyList } from './deny.ts';
import { compileMatcher, matches, type CompiledMatcher } from './matcher.ts';

export interface AgentTarget {
  tenantId: string;
  blueprintId: string;
  ficSubject: string;
  agentId: string;
  agentName: string | undefined;
}

export interface CompiledRule {
  name: string;
  platform: string;
  principal: CompiledMatcher;
  issuer: CompiledMatcher | undefined;
  attributes: [string, CompiledMatcher][];
  agent: AgentTarget;
  resources: ReadonlySet<string>;
  modes: ReadonlySet<Mode>;
  agentUsers: ReadonlySet<string>;
}

export interface CompiledPolicy {
  rules: readonly CompiledRule[];
  agents: ReadonlyMap<string, AgentTarget>;
  tenants: readonly { tenantId: string; blueprints: readonly string[] }[];
  /** The policy file's kill switch (./deny.ts); absent or empty without a `deny` section. */
  deny?: DenyList;
}

export interface PolicyRequest {
  /** Requested agent identity (the `audience` parameter), if any. */
  agent?: string;
  resource: string;
  mode: Mode;
  agentUser?: string;
}

/** `trace`: the explanation, built only when asked for (`explain`): /token never reads it. */
export type PolicyDecision =
  | { allowed: true; rule: CompiledRule; agent: AgentTarget; trace?: string[] }
  | { allowed: false; reason: ReasonCode; detail: string; rule?: string; trace?: string[] };

export interface EvaluateOptions {
  /** Build the decision's trace (/explain, `agent-id-bridge policy explain`). */
  explain?: boolean;
}

export class PolicyError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'PolicyError';
    this.path = path;
  }
}

export const defaultFicSubject = (blueprintAppId: string) => `agent-id-bridge:${blueprintAppId}`;

/** Per platform name, whether a rule may name an attribute (the registry's `isAttribute`). */
export type AttributeNames = (platform: string, name: string, rule: RuleInput) => boolean;

/** What the registry says about each rule at load: its attribute names and any other problem. */
export interface PlatformRuleChecks {
  isAttribute: AttributeNames;
  /** Problems of a rule naming `platform` that depend on that platform's configuration. */
  ruleProblems?: (platform: string, rule: RuleInput) => readonly RuleProblem[];
}

export function compilePolicy(
  file: PolicyFile,
  checks: AttributeNames | PlatformRuleChecks,
  pathPrefix = 'policy',
): CompiledPolicy {
  const { isAttribute, ruleProblems } =
    typeof checks === 'function' ? { isAttribute: checks, ruleProblems: undefined } : checks;
  const agents = new Map<string, AgentTarget>();
  file.tenants.forEach((tenant, ti) => {
    tenant.blueprints.forEach((bp, bi) => {
      bp.agents.forEach((agent, ai) => {
        const key = agent.id.toLowerCase();
        if (agents.has(key))
          throw new PolicyError(
            `${pathPrefix}.tenants[${ti}].blueprints[${bi}].agents[${ai}].id`,
            `agent ${agent.id} is listed twice`,
          );
        agents.set(key, {
          tenantId: tenant.tenantId,
          blueprintId: bp.appId,
          ficSubject: bp.ficSubject ?? defaultFicSubject(bp.appId),
          agentId: agent.id,
          agentName: agent.name,
        });
      });
    });
  });

  const names = new Set<string>();
  const rules = file.rules.map((r, i): CompiledRule => {
    const at = `${pathPrefix}.rules[${i}]`;
    if (names.has(r.name)) throw new PolicyError(`${at}.name`, `duplicate rule name "${r.name}"`);
    names.add(r.name);
    if (!(r.platform in file.platforms) || file.platforms[r.platform as keyof typeof file.platforms] === undefined) {
      throw new PolicyError(`${at}.platform`, `platform "${r.platform}" is not configured under platforms`);
    }
    const [problem] = ruleProblems?.(r.platform, r) ?? [];
    if (problem) throw new PolicyError(`${at}.${problem.field}`, problem.message);
    const agent = agents.get(r.agent.toLowerCase());
    if (!agent)
      throw new PolicyError(`${at}.agent`, `agent ${r.agent} is not listed under tenants[].blueprints[].agents`);
    const modes = new Set<Mode>(r.modes ?? ['autonomous']);
    if (modes.has('agent_user') && (r.agentUsers ?? []).length === 0) {
      throw new PolicyError(`${at}.agentUsers`, 'agent_user mode needs at least one allowed agent user');
    }
    const compile = (m: Parameters<typeof compileMatcher>[0], path: string) => {
      try {
        return compileMatcher(m);
      } catch (e) {
        throw new PolicyError(path, `invalid pattern: ${(e as Error).message}`);
      }
    };
    return {
      name: r.name,
      platform: r.platform,
      principal: compile(r.principal, `${at}.principal`),
      issuer: r.issuer === undefined ? undefined : compile(r.issuer, `${at}.issuer`),
      attributes: Object.entries(r.attributes ?? {}).map(([k, m]) => {
        // A name the platform never produces can never match; refuse it instead of denying silently.
        if (!isAttribute(r.platform, k, r))
          throw new PolicyError(
            `${at}.attributes.${k}`,
            `"${k}" is not an attribute the ${r.platform} platform produces`,
          );
        return [k, compile(m, `${at}.attributes.${k}`)];
      }),
      agent,
      resources: new Set(r.resources.map((res, j) => normaliseResource(res, `${at}.resources[${j}]`))),
      modes,
      agentUsers: new Set((r.agentUsers ?? []).map((u) => u.toLowerCase())),
    };
  });

  const tenants = file.tenants.map((t) => ({ tenantId: t.tenantId, blueprints: t.blueprints.map((b) => b.appId) }));
  return { rules, agents, tenants, deny: compileDenyList(file.deny) };
}

function normaliseResource(resource: string, path: string): string {
  if (resource.endsWith('/.default'))
    throw new PolicyError(path, 'name the resource (https://graph.microsoft.com), not a scope (…/.default)');
  return resource;
}

function workloadMatches(rule: CompiledRule, w: VerifiedWorkload): boolean {
  if (rule.platform !== w.platform) return false;
  if (!matches(rule.principal, w.principal)) return false;
  if (rule.issuer && !matches(rule.issuer, w.issuer)) return false;
  // Own properties only: `constructor` or `__proto__` must never be found on the prototype.
  for (const [name, m] of rule.attributes)
    if (!matches(m, Object.hasOwn(w.attributes, name) ? w.attributes[name] : undefined)) return false;
  return true;
}

/**
 * Decide. The trace describes only the caller's own evaluation (rules that matched it), never
 * other rules: /explain must not let a caller enumerate the policy. Without `explain` no trace
 * line is built (`trace?.push(...)` evaluates nothing when there is no trace).
 */
export function evaluatePolicy(
  policy: CompiledPolicy,
  w: VerifiedWorkload,
  req: PolicyRequest,
  opts: EvaluateOptions = {},
): PolicyDecision {
  const trace: string[] | undefined = opts.explain ? [] : undefined;
  /** The trace so far plus the line that ends it, when explaining. */
  const ending = (line: string) => (trace ? { trace: [...trace, line] } : {});
  const candidates = policy.rules.filter((r) => workloadMatches(r, w));
  if (candidates.length === 0) {
    return {
      allowed: false,
      reason: 'no_rule_matches',
      detail: `no rule matches ${w.platform} principal ${w.principal}`,
      ...ending('no rule matches this workload'),
    };
  }
  trace?.push(`rules matching this workload: ${candidates.map((r) => r.name).join(', ')}`);

  let forAgent: CompiledRule[];
  if (req.agent !== undefined) {
    const wanted = req.agent.toLowerCase();
    forAgent = candidates.filter((r) => r.agent.agentId.toLowerCase() === wanted);
    if (forAgent.length === 0)
      return {
        allowed: false,
        reason: 'agent_not_allowed',
        detail: `agent ${req.agent} is not allowed`,
        ...ending(`agent ${req.agent}: not allowed`),
      };
  } else {
    const distinct = new Set(candidates.map((r) => r.agent.agentId));
    if (distinct.size > 1) {
      return {
        allowed: false,
        reason: 'agent_ambiguous',
        detail: `${distinct.size} agents allowed, none named`,
        ...ending('several agents allowed: name one with audience'),
      };
    }
    forAgent = candidates;
  }
  trace?.push(`agent ${forAgent[0]!.agent.agentId}`);

  const forResource = forAgent.filter((r) => r.resources.has(req.resource));
  if (forResource.length === 0) {
    return {
      allowed: false,
      reason: 'resource_not_allowed',
      detail: `resource ${req.resource} not allowed`,
      rule: forAgent[0]!.name,
      ...ending(`resource ${req.resource}: not allowed`),
    };
  }
  const forMode = forResource.filter((r) => r.modes.has(req.mode));
  if (forMode.length === 0) {
    return {
      allowed: false,
      reason: 'mode_not_allowed',
      detail: `mode ${req.mode} not allowed`,
      rule: forResource[0]!.name,
      ...ending(`mode ${req.mode}: not allowed`),
    };
  }
  let chosen = forMode[0]!;
  if (req.mode === 'agent_user') {
    const user = (req.agentUser ?? '').toLowerCase();
    const forUser = forMode.find((r) => r.agentUsers.has(user));
    if (!forUser) {
      return {
        allowed: false,
        reason: 'agent_user_not_allowed',
        detail: `agent user ${req.agentUser} not allowed`,
        rule: chosen.name,
        ...ending(`agent user ${req.agentUser}: not allowed`),
      };
    }
    chosen = forUser;
  }
  trace?.push(`allowed by rule ${chosen.name}`);
  return { allowed: true, rule: chosen, agent: chosen.agent, ...(trace ? { trace } : {}) };
}
