/**
 * `platforms.oidc` at load: what the section accepts, what it refuses
 * with the option's path, the registry's overlap check, and the rules: an oidc rule names exactly one
 * configured issuer and matches only the attributes that issuer produces.
 */
import { describe, expect, it } from 'vitest';
import { buildVerifiers } from '../../../src/compose.ts';
import { ConfigError, loadConfig, type Env } from '../../../src/config/config.ts';
import { generateSigningKeyJwk } from '../../../src/issuer/keys.ts';
import { createBoundedFetch } from '../../../src/net/bounded-fetch.ts';
import { PLATFORMS } from '../../../src/platforms.ts';

const AGENT = '33333333-3333-4333-8333-333333333333';
const K8S = 'https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE';
const GITHUB = 'https://token.actions.githubusercontent.com';
const key = await generateSigningKeyJwk();
const deps = { fetch: createBoundedFetch(), clock: () => 0 };

function policy(
  oidc: unknown,
  rules: Record<string, unknown>[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    version: 1,
    tenants: [
      {
        tenantId: '11111111-1111-4111-8111-111111111111',
        blueprints: [{ appId: '22222222-2222-4222-8222-222222222222', agents: [{ id: AGENT }] }],
      },
    ],
    platforms: { oidc, ...extra },
    rules: rules.map((r, i) => ({
      name: `r${i}`,
      platform: 'oidc',
      principal: 'system:serviceaccount:agents:planner',
      agent: AGENT,
      resources: ['https://graph.microsoft.com'],
      ...r,
    })),
  };
}

const k8sSection = {
  issuers: [
    { issuer: K8S, profile: 'kubernetes' },
    { issuer: GITHUB, profile: 'github-actions' },
  ],
};

function problems(p: Record<string, unknown>, mode: 'production' | 'sandbox' = 'production'): string[] {
  const env: Env = {
    BRIDGE_ISSUER: mode === 'sandbox' ? 'http://127.0.0.1:8787' : 'https://bridge.example.com',
    BRIDGE_SIGNING_KEY: key,
    BRIDGE_POLICY: JSON.stringify(p),
    ...(mode === 'sandbox' ? { ENTRA_AUTHORITY_HOST: 'http://127.0.0.1:9' } : {}),
  };
  try {
    const config = loadConfig(env, { platforms: PLATFORMS, mode });
    buildVerifiers(config, deps);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe('platforms.oidc configuration', () => {
  it('issue 11 item 1: a Kubernetes and a GitHub issuer with one rule each load; each issuer is one verifier', () => {
    expect(
      problems(
        policy(k8sSection, [
          { issuer: K8S, attributes: { namespace: 'agents', pod_name: { glob: '*' } } },
          {
            issuer: GITHUB,
            principal: { glob: 'repo:octo-org/agent:**' },
            attributes: { repository: 'octo-org/agent', ref: 'refs/heads/main' },
          },
        ]),
      ),
    ).toEqual([]);
  });

  it('issue 11 item 1: http issuers and key set URLs are refused outside the sandbox, accepted on loopback inside it', () => {
    const http = {
      issuers: [{ issuer: 'http://127.0.0.1:9000', profile: 'kubernetes', jwksUri: 'http://127.0.0.1:9000/keys' }],
    };
    const found = problems(policy(http, [{ issuer: 'http://127.0.0.1:9000' }]));
    expect(found.some((p) => p.includes('policy.platforms.oidc.issuers[0].issuer: must be https'))).toBe(true);
    expect(found.some((p) => p.includes('policy.platforms.oidc.issuers[0].jwksUri: must be https'))).toBe(true);
    expect(problems(policy(http, [{ issuer: 'http://127.0.0.1:9000' }]), 'sandbox')).toEqual([]);
    const remote = { issuers: [{ issuer: 'http://k8s.example.com', profile: 'kubernetes' }] };
    expect(
      problems(policy(remote, [{ issuer: 'http://k8s.example.com' }]), 'sandbox').some((p) =>
        p.includes('issuers[0].issuer: must be https'),
      ),
    ).toBe(true);
  });

  it('issue 11 item 1: none/HS* algorithms, private key members, a query in the issuer and a listed-twice issuer are refused', () => {
    const bad = {
      issuers: [
        { issuer: K8S, profile: 'kubernetes', algorithms: ['HS256'] },
        { issuer: 'https://a.example.com', jwks: { keys: [{ kty: 'RSA', n: 'x', e: 'AQAB', d: 'secret' }] } },
        { issuer: 'https://b.example.com?tenant=1' },
        { issuer: 'https://c.example.com', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } },
      ],
    };
    const found = problems(policy(bad, [{ issuer: K8S }]));
    expect(found.some((p) => p.includes('issuers.0.algorithms.0') && p.includes('HS* are never accepted'))).toBe(true);
    expect(found.some((p) => p.includes('issuers.1.jwks.keys.0.d') && p.includes('PUBLIC key only'))).toBe(true);
    expect(found.some((p) => p.includes('issuers.2.issuer') && p.includes('no query or fragment'))).toBe(true);
    expect(found.some((p) => p.includes('issuers.3.jwks.keys.0.k:') && p.includes('PUBLIC key only'))).toBe(true);
    const twice = {
      issuers: [
        { issuer: GITHUB, profile: 'github-actions' },
        { issuer: GITHUB, profile: 'github-actions' },
      ],
    };
    expect(
      problems(policy(twice, [{ issuer: GITHUB }])).some(
        (p) => p.includes('issuers.1.issuer') && p.includes('listed twice'),
      ),
    ).toBe(true);
  });

  it('issue 11 item 2: each profile refuses what it cannot mean (spiffe without trust domain or with EdDSA; a non-GitHub issuer as github-actions)', () => {
    const shape = problems(
      policy(
        {
          issuers: [
            { issuer: 'https://spire.example.org', profile: 'spiffe' },
            { issuer: K8S, profile: 'kubernetes', principalClaim: 'email' },
            { issuer: 'https://idp.example.com', trustDomain: 'example.org' },
          ],
        },
        [{ issuer: K8S }],
      ),
    );
    expect(shape.some((p) => p.includes('issuers.0.trustDomain: required by the spiffe profile'))).toBe(true);
    expect(
      shape.some((p) => p.includes('issuers.1.principalClaim: the kubernetes profile defines the principal')),
    ).toBe(true);
    expect(shape.some((p) => p.includes('issuers.2.trustDomain: only for the spiffe profile'))).toBe(true);
    const found = problems(
      policy(
        {
          issuers: [
            {
              issuer: 'https://spire2.example.org',
              profile: 'spiffe',
              trustDomain: 'example.org',
              algorithms: ['EdDSA'],
            },
            { issuer: 'https://gitlab.example.com', profile: 'github-actions' },
            { issuer: 'https://ghe.example.com/_services/token', profile: 'github-actions' },
            { issuer: K8S, profile: 'kubernetes', attributes: ['namespace'] },
          ],
        },
        [{ issuer: 'https://ghe.example.com/_services/token' }],
      ),
    );
    expect(found.some((p) => p.includes('issuers[0].algorithms: EdDSA is not a JWT-SVID algorithm'))).toBe(true);
    expect(found.some((p) => p.includes('issuers[1].issuer: GitHub Actions issuers are'))).toBe(true);
    expect(found.some((p) => p.includes('issuers[2]'))).toBe(false);
    expect(
      found.some((p) =>
        p.includes('issuers[3].attributes: "namespace" is already an attribute of the kubernetes profile'),
      ),
    ).toBe(true);
  });

  it('issue 11 item 1: an oidc issuer that another platform already trusts is refused at startup (the registry overlap check)', () => {
    const found = problems(
      policy(
        { issuers: [{ issuer: 'https://accounts.google.com', principalClaim: 'sub' }] },
        [{ issuer: 'https://accounts.google.com' }],
        { gcp: {} },
      ),
    );
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/platforms\.gcp and platforms\.oidc both claim .* "https:\/\/accounts\.google\.com"/);
  });
});

describe('oidc rules', () => {
  it('issue 11 item 1: a rule must name one configured issuer exactly, so no other issuer can ever match it', () => {
    expect(
      problems(policy(k8sSection, [{}])).some((p) =>
        p.includes('policy.rules[0].issuer: an oidc rule must name one configured issuer exactly'),
      ),
    ).toBe(true);
    expect(
      problems(policy(k8sSection, [{ issuer: { glob: 'https://**' } }])).some((p) =>
        p.includes('policy.rules[0].issuer: an oidc rule must name one configured issuer exactly'),
      ),
    ).toBe(true);
    expect(
      problems(policy(k8sSection, [{ issuer: 'https://other.example.com' }])).some((p) =>
        p.includes('policy.rules[0].issuer: "https://other.example.com" is not an issuer listed'),
      ),
    ).toBe(true);
  });

  it('issue 11 item 4: a rule may match only the attributes its issuer produces (profile plus listed claims)', () => {
    // repository is a GitHub attribute, not a Kubernetes one.
    expect(
      problems(policy(k8sSection, [{ issuer: K8S, attributes: { repository: 'octo-org/agent' } }])).some((p) =>
        p.includes(
          'policy.rules[0].attributes.repository: "repository" is not an attribute the oidc platform produces',
        ),
      ),
    ).toBe(true);
    expect(
      problems(policy(k8sSection, [{ issuer: GITHUB, attributes: { namespace: 'agents' } }])).some((p) =>
        p.includes('attributes.namespace'),
      ),
    ).toBe(true);
    const withExtra = { issuers: [{ issuer: K8S, profile: 'kubernetes', attributes: ['cluster'] }] };
    expect(
      problems(policy(withExtra, [{ issuer: K8S, attributes: { cluster: 'prod', pod_name: { regex: '.+' } } }])),
    ).toEqual([]);
    expect(
      problems(policy(withExtra, [{ issuer: K8S, attributes: { constructor: 'x' } }])).some((p) =>
        p.includes('attributes.constructor'),
      ),
    ).toBe(true);
  });
});
