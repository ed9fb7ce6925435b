import { describe, expect, it } from 'vitest';
import { policyFileSchema } from '../../src/config/schema.ts';
import { PLATFORMS } from '../../src/platforms.ts';

const PolicyFileSchema = policyFileSchema(PLATFORMS);
import { compilePolicy, evaluatePolicy, PolicyError } from '../../src/policy/policy.ts';
import type { VerifiedWorkload } from '../../src/verify/contract.ts';

const T = '11111111-1111-4111-8111-111111111111';
const BP = '22222222-2222-4222-8222-222222222222';
const A1 = '33333333-3333-4333-8333-333333333331';
const A2 = '33333333-3333-4333-8333-333333333332';
const GRAPH = 'https://graph.microsoft.com';

function policy(rules: unknown[], platforms: Record<string, unknown> = { gcp: {} }) {
  const file = PolicyFileSchema.parse({
    version: 1,
    tenants: [{ tenantId: T, blueprints: [{ appId: BP, agents: [{ id: A1 }, { id: A2 }] }] }],
    platforms,
    rules,
  });
  return compilePolicy(file);
}

const gcp = (principal: string, attributes: Record<string, string> = {}): VerifiedWorkload => ({
  platform: 'gcp',
  proofKind: 'gcp-id-token',
  issuer: 'https://accounts.google.com',
  principal,
  expiresAt: 0,
  attributes,
});

const rule = (over: Record<string, unknown> = {}) => ({ name: 'r1', platform: 'gcp', principal: '123', agent: A1, resources: [GRAPH], ...over });

describe('trust policy', () => {
  it('allows an exact principal, naming the rule, tenant, blueprint and default FIC subject', () => {
    const d = evaluatePolicy(policy([rule()]), gcp('123'), { resource: GRAPH, mode: 'autonomous' });
    expect(d.allowed).toBe(true);
    if (!d.allowed) return;
    expect(d.rule.name).toBe('r1');
    expect(d.agent).toMatchObject({ tenantId: T, blueprintId: BP, agentId: A1, ficSubject: `agent-id-bridge:${BP}` });
  });

  it('denies by default when no rule matches', () => {
    const d = evaluatePolicy(policy([rule()]), gcp('124'), { resource: GRAPH, mode: 'autonomous' });
    expect(d).toMatchObject({ allowed: false, reason: 'no_rule_matches' });
  });

  it('denies everything with an empty rule list', () => {
    expect(evaluatePolicy(policy([]), gcp('123'), { resource: GRAPH, mode: 'autonomous' })).toMatchObject({ allowed: false, reason: 'no_rule_matches' });
  });

  it('never matches another platform with the same principal', () => {
    const p = policy([rule()], { gcp: {} });
    expect(evaluatePolicy(p, { ...gcp('123'), platform: 'aws' }, { resource: GRAPH, mode: 'autonomous' })).toMatchObject({ allowed: false, reason: 'no_rule_matches' });
  });

  it('glob: * stays within one "/" segment, ** crosses segments', () => {
    const p = policy([rule({ principal: { glob: 'arn:aws:iam::1:role/app-*' } })]);
    const at = (principal: string) => evaluatePolicy(p, gcp(principal), { resource: GRAPH, mode: 'autonomous' }).allowed;
    expect(at('arn:aws:iam::1:role/app-billing')).toBe(true);
    expect(at('arn:aws:iam::1:role/app-x/evil')).toBe(false);
    expect(at('arn:aws:iam::1:role/other')).toBe(false);
    const deep = policy([rule({ principal: { glob: 'arn:aws:iam::1:role/**' } })]);
    expect(evaluatePolicy(deep, gcp('arn:aws:iam::1:role/a/b'), { resource: GRAPH, mode: 'autonomous' }).allowed).toBe(true);
  });

  it('regex is fully anchored, including alternations', () => {
    const p = policy([rule({ principal: { regex: '12|34' } })]);
    const at = (principal: string) => evaluatePolicy(p, gcp(principal), { resource: GRAPH, mode: 'autonomous' }).allowed;
    expect(at('12')).toBe(true);
    expect(at('34')).toBe(true);
    expect(at('123')).toBe(false);
    expect(at('012')).toBe(false);
  });

  it('requires every listed attribute to be present and to match', () => {
    const p = policy([rule({ principal: { glob: '**' }, attributes: { project: 'prod', email: { glob: '*@prod.iam.gserviceaccount.com' } } })]);
    const ok = gcp('1', { project: 'prod', email: 'bot@prod.iam.gserviceaccount.com' });
    expect(evaluatePolicy(p, ok, { resource: GRAPH, mode: 'autonomous' }).allowed).toBe(true);
    expect(evaluatePolicy(p, gcp('1', { project: 'prod' }), { resource: GRAPH, mode: 'autonomous' }).allowed).toBe(false);
    expect(evaluatePolicy(p, gcp('1', { project: 'dev', email: 'bot@prod.iam.gserviceaccount.com' }), { resource: GRAPH, mode: 'autonomous' }).allowed).toBe(false);
  });

  it('refuses an agent the rules do not name', () => {
    const d = evaluatePolicy(policy([rule()]), gcp('123'), { agent: A2, resource: GRAPH, mode: 'autonomous' });
    expect(d).toMatchObject({ allowed: false, reason: 'agent_not_allowed' });
  });

  it('asks for an audience when several agents are allowed, and honours it when given', () => {
    const p = policy([rule(), rule({ name: 'r2', agent: A2 })]);
    expect(evaluatePolicy(p, gcp('123'), { resource: GRAPH, mode: 'autonomous' })).toMatchObject({ allowed: false, reason: 'agent_ambiguous' });
    const d = evaluatePolicy(p, gcp('123'), { agent: A2, resource: GRAPH, mode: 'autonomous' });
    expect(d.allowed && d.agent.agentId).toBe(A2);
  });

  it('refuses a resource, a mode or an agent user not allowed', () => {
    const p = policy([rule({ modes: ['autonomous', 'agent_user'], agentUsers: ['bot@contoso.com'] })]);
    expect(evaluatePolicy(p, gcp('123'), { resource: 'https://vault.azure.net', mode: 'autonomous' })).toMatchObject({ reason: 'resource_not_allowed', rule: 'r1' });
    expect(evaluatePolicy(p, gcp('123'), { resource: GRAPH, mode: 'obo' })).toMatchObject({ reason: 'mode_not_allowed' });
    expect(evaluatePolicy(p, gcp('123'), { resource: GRAPH, mode: 'agent_user', agentUser: 'other@contoso.com' })).toMatchObject({ reason: 'agent_user_not_allowed' });
    expect(evaluatePolicy(p, gcp('123'), { resource: GRAPH, mode: 'agent_user', agentUser: 'BOT@contoso.com' }).allowed).toBe(true);
  });

  it('the decision trace mentions only rules that matched this workload', () => {
    const p = policy([rule(), rule({ name: 'secret-rule', principal: '999' })]);
    const d = evaluatePolicy(p, gcp('123'), { resource: 'https://vault.azure.net', mode: 'autonomous' });
    expect(d.trace.join(' ')).not.toContain('secret-rule');
  });

  it('serves several tenants and blueprints', () => {
    const T2 = '44444444-4444-4444-8444-444444444444';
    const BP2 = '55555555-5555-4555-8555-555555555555';
    const A3 = '66666666-6666-4666-8666-666666666666';
    const file = PolicyFileSchema.parse({
      version: 1,
      tenants: [
        { tenantId: T, blueprints: [{ appId: BP, agents: [{ id: A1 }] }] },
        { tenantId: T2, blueprints: [{ appId: BP2, ficSubject: 'custom-subject', agents: [{ id: A3 }] }] },
      ],
      platforms: { gcp: {} },
      rules: [rule({ agent: A3 })],
    });
    const d = evaluatePolicy(compilePolicy(file), gcp('123'), { resource: GRAPH, mode: 'autonomous' });
    expect(d.allowed && d.agent).toMatchObject({ tenantId: T2, blueprintId: BP2, ficSubject: 'custom-subject' });
  });
});

describe('policy compilation refuses an invalid policy with the option path', () => {
  const cases: [string, unknown[], Record<string, unknown>, RegExp][] = [
    ['unknown agent', [rule({ agent: '77777777-7777-4777-8777-777777777777' })], { gcp: {} }, /policy\.rules\[0\]\.agent/],
    ['platform not configured', [rule({ platform: 'aws' })], { gcp: {} }, /policy\.rules\[0\]\.platform/],
    ['duplicate rule name', [rule(), rule()], { gcp: {} }, /policy\.rules\[1\]\.name/],
    ['invalid regex', [rule({ principal: { regex: '(' } })], { gcp: {} }, /policy\.rules\[0\]\.principal/],
    ['agent_user mode without agent users', [rule({ modes: ['agent_user'] })], { gcp: {} }, /policy\.rules\[0\]\.agentUsers/],
    ['a scope where a resource belongs', [rule({ resources: ['https://graph.microsoft.com/.default'] })], { gcp: {} }, /policy\.rules\[0\]\.resources\[0\]/],
  ];
  it.each(cases)('%s', (_name, rules, platforms, path) => {
    expect(() => policy(rules, platforms)).toThrow(PolicyError);
    expect(() => policy(rules, platforms)).toThrow(path);
  });
});
