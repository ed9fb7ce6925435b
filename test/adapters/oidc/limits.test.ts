/**
 * Issue 11 item 1 ("principals are namespaced by issuer"): the per-principal rate limit counts an oidc
 * principal within its issuer, so workloads of one cluster that share a service account name with
 * another cluster's cannot use up that cluster's budget.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/audit/audit.ts';
import { TOKEN_TYPE } from '../../../src/constants.ts';
import { startSandbox, type Sandbox } from '../../../sandbox/sandbox.ts';
import { SANDBOX } from '../../../sandbox/tenant.ts';
import { postToken } from '../../support/http.ts';
import { fixtureKey, startIssuerFixture, type FixtureKey, type IssuerFixture } from './issuer-fixture.ts';

const LIMIT = 2;
let sb: Sandbox;
let key: FixtureKey;
let prod: IssuerFixture;
let dev: IssuerFixture;
const audit: AuditEvent[] = [];

beforeAll(async () => {
  key = await fixtureKey('k1');
  [prod, dev] = await Promise.all([startIssuerFixture({ keys: [key] }), startIssuerFixture({ keys: [key] })]);
  sb = await startSandbox({
    port: 0,
    audit: (e) => audit.push(e),
    overrides: { BRIDGE_RATE_LIMIT_PER_MINUTE: String(LIMIT) },
    policy: (p) => {
      // Beside the sandbox's own issuers (its Kubernetes and GitHub Actions emulators).
      (p.platforms.oidc as { issuers: unknown[] }).issuers.push(
        { issuer: prod.issuer, profile: 'kubernetes' },
        { issuer: dev.issuer, profile: 'kubernetes' },
      );
      p.rules.push({
        name: 'prod-planner',
        platform: 'oidc',
        issuer: prod.issuer,
        principal: 'system:serviceaccount:agents:planner',
        agent: SANDBOX.agentId,
        resources: [SANDBOX.graph],
      });
      return p;
    },
  });
});
afterAll(async () => {
  await sb?.close();
  await Promise.all([prod, dev].map((f) => f?.close()));
});

function planner(cluster: IssuerFixture): Promise<string> {
  return cluster.sign(key, {
    aud: sb.url,
    sub: 'system:serviceaccount:agents:planner',
    'kubernetes.io': { namespace: 'agents', serviceaccount: { name: 'planner', uid: 'u-1' } },
    jti: crypto.randomUUID(),
  });
}

async function reasonOf(token: string): Promise<string | undefined> {
  const res = await postToken(sb.url, {
    subject_token: token,
    subject_token_type: TOKEN_TYPE.jwt,
    resource: SANDBOX.graph,
  });
  return res.status === 200 ? 'issued' : audit.find((e) => e.request_id === res.headers.get('x-request-id'))?.reason;
}

describe('oidc principals and limits', () => {
  it("issue 11 item 1: the same service account in another cluster does not use up this cluster's per-principal rate limit", async () => {
    for (let i = 0; i < LIMIT; i++) expect(await reasonOf(await planner(dev))).toBe('no_rule_matches');
    expect(await reasonOf(await planner(dev))).toBe('rate_limited');
    expect(await reasonOf(await planner(prod))).toBe('issued');
  });
});
