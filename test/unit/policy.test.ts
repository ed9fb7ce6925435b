import { describe, expect, it } from 'vitest';
import { registryRuleChecks } from '../../src/config/config.ts';
import { policyFileSchema, type RuleInput } from '../../src/config/schema.ts';
import { PLATFORMS } from '../../src/platforms.ts';

const PolicyFileSchema = policyFileSchema(PLATFORMS);
/** The registry's attribute names, as loadConfig passes them (these platforms' names do not depend on their section). */
const isPlatformAttribute = (platform: string, name: string) =>
  registryRuleChecks(PLATFORMS, {}).isAttribute(platform, name, { name: 'r' } as RuleInput);
import { compilePolicy, evaluatePolicy, PolicyError } from '../../src/policy/policy.ts';
import type { VerifiedWorkload } from '../../src/verify/contract.ts';
import { gcpWorkloadFromClaims } from '../../adapters/gcp/claims.ts';
import { n8nWorkloadFromClaims } from '../../adapters/n8n/claims.ts';
import { webIdentityWorkload } from '../../adapters/aws/web-identity.ts';
import { principalFromCallerArn } from '../../adapters/aws/arn.ts';

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
  return compilePolicy(file, isPlatformAttribute);
}

const gcp = (principal: string, attributes: Record<string, string> = {}): VerifiedWorkload => ({
  platform: 'gcp',
  proofKind: 'gcp-id-token',
  issuer: 'https://accounts.google.com',
  principal,
  expiresAt: 0,
  attributes,
});

const rule = (over: Record<string, unknown> = {}) => ({
  name: 'r1',
  platform: 'gcp',
  principal: '123',
  agent: A1,
  resources: [GRAPH],
  ...over,
});

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
    expect(evaluatePolicy(policy([]), gcp('123'), { resource: GRAPH, mode: 'autonomous' })).toMatchObject({
      allowed: false,
      reason: 'no_rule_matches',
    });
  });

  it('never matches another platform with the same principal', () => {
    const p = policy([rule()], { gcp: {} });
    expect(
      evaluatePolicy(p, { ...gcp('123'), platform: 'aws' }, { resource: GRAPH, mode: 'autonomous' }),
    ).toMatchObject({ allowed: false, reason: 'no_rule_matches' });
  });

  it('glob: * stays within one "/" segment, ** crosses segments', () => {
    const p = policy([rule({ principal: { glob: 'arn:aws:iam::1:role/app-*' } })]);
    const at = (principal: string) =>
      evaluatePolicy(p, gcp(principal), { resource: GRAPH, mode: 'autonomous' }).allowed;
    expect(at('arn:aws:iam::1:role/app-billing')).toBe(true);
    expect(at('arn:aws:iam::1:role/app-x/evil')).toBe(false);
    expect(at('arn:aws:iam::1:role/other')).toBe(false);
    const deep = policy([rule({ principal: { glob: 'arn:aws:iam::1:role/**' } })]);
    expect(evaluatePolicy(deep, gcp('arn:aws:iam::1:role/a/b'), { resource: GRAPH, mode: 'autonomous' }).allowed).toBe(
      true,
    );
  });

  it('regex is fully anchored, including alternations', () => {
    const p = policy([rule({ principal: { regex: '12|34' } })]);
    const at = (principal: string) =>
      evaluatePolicy(p, gcp(principal), { resource: GRAPH, mode: 'autonomous' }).allowed;
    expect(at('12')).toBe(true);
    expect(at('34')).toBe(true);
    expect(at('123')).toBe(false);
    expect(at('012')).toBe(false);
  });

  it('requires every listed attribute to be present and to match', () => {
    const p = policy([
      rule({
        principal: { glob: '**' },
        attributes: { project: 'prod', email: { glob: '*@prod.iam.gserviceaccount.com' } },
      }),
    ]);
    const ok = gcp('1', { project: 'prod', email: 'bot@prod.iam.gserviceaccount.com' });
    expect(evaluatePolicy(p, ok, { resource: GRAPH, mode: 'autonomous' }).allowed).toBe(true);
    expect(evaluatePolicy(p, gcp('1', { project: 'prod' }), { resource: GRAPH, mode: 'autonomous' }).allowed).toBe(
      false,
    );
    expect(
      evaluatePolicy(p, gcp('1', { project: 'dev', email: 'bot@prod.iam.gserviceaccount.com' }), {
        resource: GRAPH,
        mode: 'autonomous',
      }).allowed,
    ).toBe(false);
  });

  it('refuses an agent the rules do not name', () => {
    const d = evaluatePolicy(policy([rule()]), gcp('123'), { agent: A2, resource: GRAPH, mode: 'autonomous' });
    expect(d).toMatchObject({ allowed: false, reason: 'agent_not_allowed' });
  });

  it('asks for an audience when several agents are allowed, and honours it when given', () => {
    const p = policy([rule(), rule({ name: 'r2', agent: A2 })]);
    expect(evaluatePolicy(p, gcp('123'), { resource: GRAPH, mode: 'autonomous' })).toMatchObject({
      allowed: false,
      reason: 'agent_ambiguous',
    });
    const d = evaluatePolicy(p, gcp('123'), { agent: A2, resource: GRAPH, mode: 'autonomous' });
    expect(d.allowed && d.agent.agentId).toBe(A2);
  });

  it('refuses a resource, a mode or an agent user not allowed', () => {
    const p = policy([rule({ modes: ['autonomous', 'agent_user'], agentUsers: ['bot@contoso.com'] })]);
    expect(evaluatePolicy(p, gcp('123'), { resource: 'https://vault.azure.net', mode: 'autonomous' })).toMatchObject({
      reason: 'resource_not_allowed',
      rule: 'r1',
    });
    expect(evaluatePolicy(p, gcp('123'), { resource: GRAPH, mode: 'obo' })).toMatchObject({
      reason: 'mode_not_allowed',
    });
    expect(
      evaluatePolicy(p, gcp('123'), { resource: GRAPH, mode: 'agent_user', agentUser: 'other@contoso.com' }),
    ).toMatchObject({ reason: 'agent_user_not_allowed' });
    expect(
      evaluatePolicy(p, gcp('123'), { resource: GRAPH, mode: 'agent_user', agentUser: 'BOT@contoso.com' }).allowed,
    ).toBe(true);
  });

  it('the decision trace mentions only rules that matched this workload', () => {
    const p = policy([rule(), rule({ name: 'secret-rule', principal: '999' })]);
    const d = evaluatePolicy(
      p,
      gcp('123'),
      { resource: 'https://vault.azure.net', mode: 'autonomous' },
      { explain: true },
    );
    expect(d.trace?.join(' ')).toContain('rules matching this workload: r1');
    expect(d.trace?.join(' ')).not.toContain('secret-rule');
  });

  it('issue 12: the trace is built only when explaining; the decision is the same either way', () => {
    const p = policy([rule({ agentUsers: ['bot@contoso.com'], modes: ['autonomous', 'agent_user'] })]);
    const requests = [
      { resource: GRAPH, mode: 'autonomous' },
      { resource: 'https://vault.azure.net', mode: 'autonomous' },
      { resource: GRAPH, mode: 'obo' },
      { resource: GRAPH, mode: 'agent_user', agentUser: 'other@contoso.com' },
      { resource: GRAPH, mode: 'autonomous', agent: A2 },
    ] as const;
    for (const req of requests) {
      const plain = evaluatePolicy(p, gcp('123'), req);
      const explained = evaluatePolicy(p, gcp('123'), req, { explain: true });
      expect(plain.trace).toBeUndefined();
      expect(explained.trace?.length).toBeGreaterThan(0);
      const { trace: _trace, ...decision } = explained;
      expect(plain).toEqual(decision);
    }
    expect(evaluatePolicy(p, gcp('nobody'), { resource: GRAPH, mode: 'autonomous' }, { explain: true }).trace).toEqual([
      'no rule matches this workload',
    ]);
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
    const d = evaluatePolicy(compilePolicy(file, isPlatformAttribute), gcp('123'), {
      resource: GRAPH,
      mode: 'autonomous',
    });
    expect(d.allowed && d.agent).toMatchObject({ tenantId: T2, blueprintId: BP2, ficSubject: 'custom-subject' });
  });
});

describe('policy compilation refuses an invalid policy with the option path', () => {
  const cases: [string, unknown[], Record<string, unknown>, RegExp][] = [
    [
      'unknown agent',
      [rule({ agent: '77777777-7777-4777-8777-777777777777' })],
      { gcp: {} },
      /policy\.rules\[0\]\.agent/,
    ],
    ['platform not configured', [rule({ platform: 'aws' })], { gcp: {} }, /policy\.rules\[0\]\.platform/],
    ['duplicate rule name', [rule(), rule()], { gcp: {} }, /policy\.rules\[1\]\.name/],
    ['invalid regex', [rule({ principal: { regex: '(' } })], { gcp: {} }, /policy\.rules\[0\]\.principal/],
    [
      'agent_user mode without agent users',
      [rule({ modes: ['agent_user'] })],
      { gcp: {} },
      /policy\.rules\[0\]\.agentUsers/,
    ],
    [
      'a scope where a resource belongs',
      [rule({ resources: ['https://graph.microsoft.com/.default'] })],
      { gcp: {} },
      /policy\.rules\[0\]\.resources\[0\]/,
    ],
  ];
  it.each(cases)('%s', (_name, rules, platforms, path) => {
    expect(() => policy(rules, platforms)).toThrow(PolicyError);
    expect(() => policy(rules, platforms)).toThrow(path);
  });
});

describe('issue 8 item 12: policy loading refuses what it cannot mean', () => {
  it('issue 8 item 12: a rule regex valid only once wrapped (ID)|(.*) is refused at load', () => {
    expect(() => policy([rule({ principal: { regex: 'ID)|(.*' } })])).toThrow(PolicyError);
    expect(() => policy([rule({ principal: { regex: 'ID)|(.*' } })])).toThrow(/rules\[0\]\.principal/);
    // A sound alternation still loads and stays anchored as a whole.
    const p = policy([rule({ principal: { regex: '123|456' } })]);
    expect(evaluatePolicy(p, gcp('456'), { resource: GRAPH, mode: 'autonomous' }).allowed).toBe(true);
    expect(evaluatePolicy(p, gcp('1234'), { resource: GRAPH, mode: 'autonomous' }).allowed).toBe(false);
  });

  it('issue 8 item 12: an attribute named constructor (or any name the platform never produces) is refused at load', () => {
    for (const name of ['constructor', 'toString', 'hasOwnProperty', 'env']) {
      expect(() => policy([rule({ principal: { glob: '**' }, attributes: { [name]: { glob: '**' } } })]), name).toThrow(
        /not an attribute the gcp platform produces/,
      );
    }
  });

  it('issue 8 item 12: attribute matchers read own properties only: an inherited name never matches', () => {
    // Compiled by hand past the load check, to show the evaluation itself does not consult the prototype.
    const p = policy([rule({ principal: { glob: '**' }, attributes: { project: { glob: '**' } } })]);
    const compiled = {
      ...p,
      rules: p.rules.map((r) => ({ ...r, attributes: [['constructor', r.attributes[0]![1]]] as typeof r.attributes })),
    };
    expect(evaluatePolicy(compiled, gcp('123', {}), { resource: GRAPH, mode: 'autonomous' })).toMatchObject({
      allowed: false,
      reason: 'no_rule_matches',
    });
    expect(evaluatePolicy(p, gcp('123', { project: 'p' }), { resource: GRAPH, mode: 'autonomous' }).allowed).toBe(true);
  });

  it('issue 8 item 12: per-platform attribute names, including AWS principal tags', () => {
    const platforms = {
      gcp: {},
      aws: {},
      n8n: { instances: { i1: { keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43) }] } } },
    };
    const ok = [
      rule({
        platform: 'aws',
        principal: { glob: '**' },
        attributes: { account: '1', 'tag:team': 'x', role_path: '/' },
      }),
      rule({
        name: 'r2',
        platform: 'n8n',
        principal: { glob: '**' },
        attributes: { instance_id: 'i1', workflow_id: 'w' },
      }),
    ];
    expect(() => policy(ok, platforms)).not.toThrow();
    expect(() =>
      policy([rule({ platform: 'n8n', principal: { glob: '**' }, attributes: { project: 'x' } })], platforms),
    ).toThrow(/not an attribute the n8n platform produces/);
    expect(() =>
      policy([rule({ platform: 'aws', principal: { glob: '**' }, attributes: { 'tag:': 'x' } })], platforms),
    ).toThrow(PolicyError);
  });
});

describe('issue 8 item 12: the attribute lists agree with what the adapters produce', () => {
  /** The attribute names of an accepted mapping (every mapping here must be accepted). */
  const names = (result: { ok: boolean; value?: unknown }) => {
    expect(result.ok).toBe(true);
    return Object.keys((result.value as { attributes: Record<string, string> }).attributes);
  };
  it('every attribute a fully populated proof yields is one a rule may name', () => {
    const gcpNames = names(
      gcpWorkloadFromClaims({
        sub: '1',
        azp: '1',
        email: 'a@my-project-42.iam.gserviceaccount.com',
        email_verified: true,
        google: {
          compute_engine: { project_id: 'p', project_number: 1, zone: 'z', instance_id: '1', instance_name: 'n' },
        },
      }),
    );
    const n8nNames = names(n8nWorkloadFromClaims({ sub: 'n8n:i:workflow:w', jti: 'j' }, 'i'));
    const awsWeb = webIdentityWorkload(
      {
        sub: 'arn:aws:iam::111122223333:role/p/r',
        'https://sts.amazonaws.com/': {
          aws_account: '111122223333',
          org_id: 'o',
          ou_path: 'o/r/',
          source_region: 'us-east-1',
          lambda_source_function_arn: 'arn:x',
          principal_tags: { team: 'a' },
        },
      },
      '111122223333',
    );
    const caller = principalFromCallerArn('arn:aws:sts::111122223333:assumed-role/r/s');
    const user = principalFromCallerArn('arn:aws:iam::111122223333:user/u');
    expect(gcpNames).toHaveLength(8);
    expect(names(awsWeb)).toContain('tag:team');
    for (const [platform, list] of [
      ['gcp', gcpNames],
      ['n8n', n8nNames],
      ['aws', [...names(awsWeb), ...names(caller), ...names(user), 'unique_id']],
    ] as const) {
      for (const name of list) expect(isPlatformAttribute(platform, name), `${platform} ${name}`).toBe(true);
    }
  });
});
