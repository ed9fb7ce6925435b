/**
 * The oidc platform through the real app over HTTP (issue 11 items 1, 2 and 4): a Kubernetes, a
 * GitHub Actions and a SPIFFE token each become an agent token under a rule naming their issuer;
 * every refusal is a 4xx (or 503 for the issuer's own failure) with its reason in the audit log and
 * nothing asked of Entra; the same `sub` from a second cluster never matches the first cluster's
 * rule; /explain and the audit line describe the oidc workload.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/audit/audit.ts';
import { TOKEN_TYPE } from '../../../src/constants.ts';
import { startSandbox, type Sandbox } from '../../../sandbox/sandbox.ts';
import { SANDBOX } from '../../../sandbox/tenant.ts';
import { postToken, type TokenResponse } from '../../support/http.ts';
import { fixtureKey, startIssuerFixture, type FixtureKey, type IssuerFixture } from './issuer-fixture.ts';

const GENERIC = 'The workload proof could not be verified.';
const POD = { name: 'planner-7b94444f8d-hws2b', uid: 'da2a9517-e352-47de-bb01-8e5450be3991' };

let sb: Sandbox;
let key: FixtureKey;
let clusterA: IssuerFixture;
let clusterB: IssuerFixture;
let github: IssuerFixture;
let spire: IssuerFixture;
let lying: IssuerFixture;
const audit: AuditEvent[] = [];

beforeAll(async () => {
  key = await fixtureKey('k1', 'RS256');
  [clusterA, clusterB, github, spire, lying] = await Promise.all([
    startIssuerFixture({ keys: [key] }),
    startIssuerFixture({ keys: [key] }),
    startIssuerFixture({ path: '/_services/token', keys: [key] }),
    startIssuerFixture({ keys: [key] }),
    startIssuerFixture({ keys: [key] }),
  ]);
  lying.discoveryIssuer = 'https://somebody-else.example.com';
  const rule = (name: string, extra: Record<string, unknown>) => ({
    name,
    platform: 'oidc',
    agent: SANDBOX.agentId,
    resources: [SANDBOX.graph],
    ...extra,
  });
  sb = await startSandbox({
    port: 0,
    audit: (e) => audit.push(e),
    policy: (p) => {
      // Beside the sandbox's own issuers (its Kubernetes and GitHub Actions emulators).
      (p.platforms.oidc as { issuers: unknown[] }).issuers.push(
        { issuer: clusterA.issuer, profile: 'kubernetes' },
        { issuer: clusterB.issuer, profile: 'kubernetes' },
        { issuer: github.issuer, profile: 'github-actions', audience: 'agent-id-bridge' },
        { issuer: spire.issuer, profile: 'spiffe', trustDomain: 'prod.example.org' },
        { issuer: lying.issuer, profile: 'kubernetes' },
      );
      p.rules.push(
        rule('cluster-a-planner', {
          issuer: clusterA.issuer,
          principal: 'system:serviceaccount:agents:planner',
          attributes: { pod_name: { glob: 'planner-*' } },
        }),
        rule('github-main', {
          issuer: github.issuer,
          principal: { glob: 'repo:octo-org/agent:**' },
          attributes: { repository: 'octo-org/agent', ref: 'refs/heads/main' },
        }),
        rule('spire-planner', { issuer: spire.issuer, principal: 'spiffe://prod.example.org/ns/agents/sa/planner' }),
        rule('lying-planner', { issuer: lying.issuer, principal: 'system:serviceaccount:agents:planner' }),
      );
      return p;
    },
  });
});
afterAll(async () => {
  await sb?.close();
  await Promise.all([clusterA, clusterB, github, spire, lying].map((f) => f?.close()));
});
beforeEach(() => {
  audit.length = 0;
  sb.entra.resetCalls();
});

function k8sToken(
  cluster: IssuerFixture,
  over: Record<string, unknown> = {},
  opts: Parameters<IssuerFixture['sign']>[2] = {},
): Promise<string> {
  return cluster.sign(
    key,
    {
      aud: [sb.url],
      sub: 'system:serviceaccount:agents:planner',
      'kubernetes.io': {
        namespace: 'agents',
        serviceaccount: { name: 'planner', uid: '0d4691ed-659b-4935-a832-355f77ee47cc' },
        pod: POD,
      },
      ...over,
    },
    opts,
  );
}

function githubToken(over: Record<string, unknown> = {}): Promise<string> {
  return github.sign(key, {
    aud: 'agent-id-bridge',
    sub: 'repo:octo-org/agent:ref:refs/heads/main',
    repository: 'octo-org/agent',
    repository_id: '74',
    repository_owner: 'octo-org',
    ref: 'refs/heads/main',
    event_name: 'push',
    ...over,
  });
}

function send(
  token: string,
  path: '/token' | '/explain' = '/token',
  tokenType: string = TOKEN_TYPE.jwt,
): Promise<TokenResponse> {
  return postToken(sb.url, { subject_token: token, subject_token_type: tokenType, resource: SANDBOX.graph }, { path });
}

function auditOf(res: TokenResponse): AuditEvent {
  const event = audit.find((e) => e.request_id === res.headers.get('x-request-id'));
  if (!event) throw new Error('no audit event');
  return event;
}

/** Refused with `reason` in the audit log, the generic (or named) error on the wire, and no call to Entra. */
function expectRefused(res: TokenResponse, reason: string, status = 400): AuditEvent {
  expect({ status: res.status, reason: auditOf(res).reason }).toEqual({ status, reason });
  expect(res.body.access_token).toBeUndefined();
  expect(sb.entra.calls).toHaveLength(0);
  return auditOf(res);
}

describe('oidc through the app: issued', () => {
  it('issue 11 item 2: a Kubernetes service account token bound to a pod becomes the agent token; the audit names issuer, principal and attributes', async () => {
    const res = await send(await k8sToken(clusterA));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: 'Bearer', agent_id: SANDBOX.agentId });
    expect(auditOf(res)).toMatchObject({
      outcome: 'issued',
      platform: 'oidc',
      proof_kind: 'oidc-kubernetes',
      issuer: clusterA.issuer,
      principal: 'system:serviceaccount:agents:planner',
      attributes: { namespace: 'agents', service_account_name: 'planner', pod_name: POD.name, pod_uid: POD.uid },
      rule: 'cluster-a-planner',
    });
  });

  it('issue 11 item 2: a GitHub Actions token (as an id_token) with its own audience and a SPIFFE JWT-SVID are each issued', async () => {
    const gh = await send(await githubToken(), '/token', TOKEN_TYPE.idToken);
    expect(gh.status).toBe(200);
    expect(auditOf(gh)).toMatchObject({
      proof_kind: 'oidc-github-actions',
      principal: 'repo:octo-org/agent:ref:refs/heads/main',
      rule: 'github-main',
    });
    const svid = await send(
      await spire.sign(key, { aud: sb.url, sub: 'spiffe://prod.example.org/ns/agents/sa/planner' }),
    );
    expect(svid.status).toBe(200);
    expect(auditOf(svid)).toMatchObject({
      proof_kind: 'oidc-spiffe-jwt-svid',
      attributes: { trust_domain: 'prod.example.org' },
      rule: 'spire-planner',
    });
  });

  it('issue 11 item 4: /explain shows the oidc workload and the rule that allows it, and issues nothing', async () => {
    const res = await send(await k8sToken(clusterA), '/explain');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      allowed: true,
      rule: 'cluster-a-planner',
      workload: {
        platform: 'oidc',
        proof_kind: 'oidc-kubernetes',
        issuer: clusterA.issuer,
        principal: 'system:serviceaccount:agents:planner',
      },
    });
    expect(sb.entra.calls).toHaveLength(0);
    expect(auditOf(res)).toMatchObject({ outcome: 'explained', platform: 'oidc' });
  });
});

describe('oidc through the app: refused, nothing issued', () => {
  it("issue 11 Must show: the same sub from a second cluster never matches the first cluster's rule (no_rule_matches)", async () => {
    const res = await send(await k8sToken(clusterB));
    expectRefused(res, 'no_rule_matches');
    expect(auditOf(res)).toMatchObject({ issuer: clusterB.issuer, principal: 'system:serviceaccount:agents:planner' });
    // /explain says the same without naming the other cluster's rule.
    const explained = await send(await k8sToken(clusterB), '/explain');
    expect(explained.body).toMatchObject({ allowed: false, reason: 'no_rule_matches' });
    expect(JSON.stringify(explained.body)).not.toContain('cluster-a-planner');
  });

  it('issue 11 Must show: a GitHub token from another repository or another ref than the rule allows is refused (no_rule_matches)', async () => {
    expectRefused(
      await send(await githubToken({ sub: 'repo:octo-org/other:ref:refs/heads/main', repository: 'octo-org/other' })),
      'no_rule_matches',
    );
    expectRefused(
      await send(await githubToken({ sub: 'repo:octo-org/agent:ref:refs/heads/feature', ref: 'refs/heads/feature' })),
      'no_rule_matches',
    );
    // A sub that looks right does not stand in for the repository claim the rule asks for.
    expectRefused(await send(await githubToken({ repository: 'octo-org/agent-fork' })), 'no_rule_matches');
  });

  it('issue 11 Must show: a rule asking for a bound pod does not match a token bound to no pod', async () => {
    const unbound = await k8sToken(clusterA, {
      'kubernetes.io': {
        namespace: 'agents',
        serviceaccount: { name: 'planner', uid: '0d4691ed-659b-4935-a832-355f77ee47cc' },
      },
    });
    expectRefused(await send(unbound), 'no_rule_matches');
  });

  it('issue 11 Must show: an issuer that is not configured is refused (proof_untrusted_issuer) with the generic description', async () => {
    const res = await send(await k8sToken(clusterA, { iss: 'https://kubernetes.default.svc' }));
    expectRefused(res, 'proof_untrusted_issuer');
    expect(res.body.error_description).toBe(GENERIC);
  });

  it('issue 11 Must show: a discovery document naming another issuer is a 503 (verifier_unavailable), never a token', async () => {
    const res = await send(await k8sToken(lying));
    const event = expectRefused(res, 'verifier_unavailable', 503);
    expect(event.detail).toContain('somebody-else.example.com');
  });

  it('issue 11 Must show: an unknown kid, a disallowed alg, a wrong or second audience, expiry and age are each refused with their reason', async () => {
    const stranger = await fixtureKey('not-served', 'RS256');
    const base = {
      aud: [sb.url],
      sub: 'system:serviceaccount:agents:planner',
      'kubernetes.io': { namespace: 'agents', serviceaccount: { name: 'planner', uid: 'u' }, pod: POD },
    };
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Promise<string>, string][] = [
      ['unknown kid', clusterA.sign(stranger, base), 'proof_unknown_key'],
      ['alg PS256', clusterA.sign(await fixtureKey('k1', 'PS256'), base), 'proof_alg_not_allowed'],
      ['audience missing', k8sToken(clusterA, {}, { omit: ['aud'] }), 'proof_claim'],
      ['audience different', k8sToken(clusterA, { aud: ['https://kubernetes.default.svc'] }), 'proof_audience'],
      [
        'second audience',
        k8sToken(clusterA, { aud: [sb.url, 'https://kubernetes.default.svc'] }),
        'proof_audience_multiple',
      ],
      ['expired', k8sToken(clusterA, {}, { iat: now - 1200, lifetimeSec: 600 }), 'proof_expired'],
      ['not yet valid', k8sToken(clusterA, { nbf: now + 600 }), 'proof_not_yet_valid'],
      ['too old', k8sToken(clusterA, {}, { iat: now - 3500, lifetimeSec: 7000 }), 'proof_too_old'],
      ['no exp (legacy token)', k8sToken(clusterA, {}, { omit: ['exp'] }), 'proof_claim'],
      [
        'SPIFFE ID outside the trust domain',
        spire.sign(key, { aud: sb.url, sub: 'spiffe://staging.example.org/ns/agents/sa/planner' }),
        'proof_claim',
      ],
    ];
    for (const [what, token, reason] of cases) {
      sb.entra.resetCalls();
      const res = await send(await token);
      expect({ what, status: res.status, reason: auditOf(res).reason }).toEqual({ what, status: 400, reason });
      expect(res.body.access_token).toBeUndefined();
      expect(sb.entra.calls).toHaveLength(0);
    }
  });
});
