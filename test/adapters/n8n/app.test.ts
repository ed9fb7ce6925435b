/**
 * The n8n refusals through the real app over HTTP: every refused input gets
 * the generic 400 and its exact reason in the audit log only; a jti is honoured once even when
 * requests race; the policy, not the proof, decides which workflow may become which agent.
 */
import { exportJWK, generateKeyPair, importJWK, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwkThumbprint } from '../../../adapters/n8n/index.ts';
import type { AuditEvent } from '../../../src/audit/audit.ts';
import type { N8nPublicJwk } from '../../../adapters/n8n/config.ts';
import { TOKEN_TYPE } from '../../../src/constants.ts';
import { startSandbox, type Sandbox } from '../../../sandbox/sandbox.ts';
import { SANDBOX } from '../../../sandbox/tenant.ts';
import { postToken } from '../../support/http.ts';
import {
  buildN8nVector,
  loadN8nVectors,
  type N8nVectorSpec,
  type VectorEnv,
  type VectorKey,
} from '../../vectors/n8n/build.ts';

const OTHER_INSTANCE = 'sandbox-n8n-two';
const GENERIC = 'The workload proof could not be verified.';
/** Refusals decided after the signature verified, whose description says what to fix. */
const AFTER_SIGNATURE = new Set([
  'proof_audience',
  'proof_audience_multiple',
  'proof_expired',
  'proof_not_yet_valid',
  'proof_too_old',
  'proof_typ_mismatch',
]);

let sb: Sandbox;
let env: VectorEnv;
const audit: AuditEvent[] = [];

async function freshKey(alg: 'ES256' | 'EdDSA'): Promise<VectorKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = (await exportJWK(publicKey)) as Record<string, string>;
  const publicJwk: Record<string, string> =
    alg === 'ES256' ? { kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y! } : { kty: 'OKP', crv: 'Ed25519', x: jwk.x! };
  return {
    privateKey: privateKey as CryptoKey,
    alg,
    publicJwk,
    kid: await jwkThumbprint(publicJwk as unknown as N8nPublicJwk),
  };
}

beforeAll(async () => {
  const otherKey = await freshKey('EdDSA');
  sb = await startSandbox({
    port: 0,
    audit: (e) => audit.push(e),
    // A second registered instance, so "a key speaks for its own instance only" can be shown.
    policy: (p) => {
      const n8n = p.platforms.n8n as { instances: Record<string, unknown> };
      n8n.instances[OTHER_INSTANCE] = { keys: [otherKey.publicJwk] };
      return p;
    },
  });
  const m = sb.manifest.n8n as {
    instanceId: string;
    workflowId: string;
    privateJwk: Record<string, string>;
    kid: string;
  };
  const { d: _d, ...publicMembers } = m.privateJwk;
  env = {
    now: Math.floor(Date.now() / 1000),
    issuer: sb.url,
    instance: m.instanceId,
    other: OTHER_INSTANCE,
    workflow: m.workflowId,
    instanceKey: {
      privateKey: (await importJWK(m.privateJwk, 'ES256')) as CryptoKey,
      alg: 'ES256',
      kid: m.kid,
      publicJwk: { kty: 'EC', crv: 'P-256', x: publicMembers.x!, y: publicMembers.y! },
    },
    otherKey,
    foreignKey: await freshKey('ES256'),
  };
});
afterAll(() => sb?.close());

const good = (over: Partial<N8nVectorSpec> = {}) =>
  buildN8nVector(
    { description: 'good', expect: 'internal_error', ...over },
    { ...env, now: Math.floor(Date.now() / 1000) },
  );

function exchange(assertion: string, extra: Record<string, string> = {}) {
  return postToken(sb.url, {
    subject_token: assertion,
    subject_token_type: TOKEN_TYPE.jwt,
    resource: SANDBOX.graph,
    ...extra,
  });
}

function auditOf(requestId: unknown): AuditEvent {
  const event = audit.find((e) => e.request_id === requestId);
  if (!event) throw new Error(`no audit event for ${String(requestId)}`);
  return event;
}

describe('n8n through the app: accepted', () => {
  it('a sandbox assertion becomes an agent token; the audit names the workflow principal and keeps the n8n context', async () => {
    const res = await exchange(await good());
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      token_type: 'Bearer',
      agent_id: SANDBOX.agentId,
      scope: `${SANDBOX.graph}/.default`,
    });
    expect(auditOf(res.headers.get('x-request-id'))).toMatchObject({
      outcome: 'issued',
      platform: 'n8n',
      proof_kind: 'n8n-assertion',
      principal: `n8n:${env.instance}:workflow:${env.workflow}`,
      attributes: { instance_id: env.instance, workflow_id: env.workflow },
      context: { n8n_execution_id: '1042', n8n_workflow_name: 'Nightly report', n8n_node_name: 'Entra Agent Token' },
      rule: 'sandbox-n8n-workflow',
    });
  });
});

describe('n8n through the app: each refused input', () => {
  const vectors = loadN8nVectors();
  it.each(vectors.map((v) => [v.name, v] as const))(
    '%s → 400 invalid_request, reason only in the audit log',
    async (_name, vector) => {
      const token = await buildN8nVector(vector, { ...env, now: Math.floor(Date.now() / 1000) });
      const res = await exchange(token);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_request');
      // Refused once the instance's signature verified: the caller is told what it controls.
      // Refused before: exactly the generic text, whatever the instance (it may not exist).
      const told = AFTER_SIGNATURE.has(vector.expect);
      if (told)
        expect(String(res.body.error_description)).toMatch(new RegExp(`^${GENERIC.replaceAll('.', '\\.')} \\S`));
      else expect(res.body.error_description).toBe(GENERIC);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const event = auditOf(res.body.request_id);
      expect(event.reason).toBe(vector.expect);
      const logged = JSON.stringify(event) + JSON.stringify(res.body);
      for (const segment of token.split('.')) if (segment.length > 16) expect(logged).not.toContain(segment);
    },
  );

  it('a workflow the policy does not name: the proof verifies, no rule allows it', async () => {
    const res = await exchange(await good({ claims: { sub: 'n8n:${instance}:workflow:NotInPolicy00001' } }));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      error: 'invalid_request',
      error_description: 'No trust policy rule allows this workload.',
    });
    expect(auditOf(res.body.request_id)).toMatchObject({
      reason: 'no_rule_matches',
      principal: `n8n:${env.instance}:workflow:NotInPolicy00001`,
    });
  });

  it('the same workflow id under another registered instance is another principal: no rule', async () => {
    const res = await exchange(
      await buildN8nVector(
        { description: '', expect: 'internal_error' },
        { ...env, now: Math.floor(Date.now() / 1000), instance: OTHER_INSTANCE, instanceKey: env.otherKey },
      ),
    );
    expect(res.status).toBe(400);
    expect(auditOf(res.body.request_id)).toMatchObject({
      reason: 'no_rule_matches',
      principal: `n8n:${OTHER_INSTANCE}:workflow:${env.workflow}`,
    });
  });

  it('the workflow name cannot buy access: policy never sees it', async () => {
    const res = await exchange(
      await good({
        claims: { sub: 'n8n:${instance}:workflow:NotInPolicy00001', n8n: { workflow_name: env.workflow } },
      }),
    );
    expect(res.status).toBe(400);
    expect(auditOf(res.body.request_id).reason).toBe('no_rule_matches');
  });

  it('an agent the rule does not allow → invalid_target', async () => {
    const res = await exchange(await good(), { audience: SANDBOX.otherAgentId });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_target');
    expect(auditOf(res.body.request_id).reason).toBe('agent_not_allowed');
  });
});

describe('n8n through the app: every jti once', () => {
  it('a replayed assertion is refused after it was honoured', async () => {
    const token = await good();
    expect((await exchange(token)).status).toBe(200);
    const again = await exchange(token);
    expect(again.status).toBe(400);
    expect(auditOf(again.body.request_id).reason).toBe('proof_replayed');
  });

  it('two racing requests with one assertion: exactly one token', async () => {
    const token = await good();
    const [a, b] = await Promise.all([exchange(token), exchange(token)]);
    expect([a.status, b.status].sort()).toEqual([200, 400]);
    const refused = a.status === 400 ? a : b;
    expect(auditOf(refused.body.request_id).reason).toBe('proof_replayed');
  });

  it('ten racing requests with one assertion: exactly one token, nine replays', async () => {
    const token = await good();
    const all = await Promise.all(Array.from({ length: 10 }, () => exchange(token)));
    expect(all.filter((r) => r.status === 200)).toHaveLength(1);
    const refused = all.filter((r) => r.status !== 200);
    expect(refused).toHaveLength(9);
    expect(refused.every((r) => auditOf(r.body.request_id).reason === 'proof_replayed')).toBe(true);
  });

  it('issue 8 item 3: /explain spends nothing: explain then token with the same assertion succeeds', async () => {
    const token = await good();
    const explain = () =>
      postToken(
        sb.url,
        { subject_token: token, subject_token_type: TOKEN_TYPE.jwt, resource: SANDBOX.graph },
        { path: '/explain' },
      );
    const explained = await explain();
    expect(explained.status).toBe(200);
    expect(explained.body).toMatchObject({ allowed: true, agent_id: SANDBOX.agentId });
    // Issue 12: /token builds no policy trace; /explain still answers with it.
    expect(explained.body.trace).toEqual([
      expect.any(String),
      expect.any(String),
      expect.stringMatching(/^allowed by rule /),
    ]);
    expect((await explain()).status).toBe(200);
    expect((await exchange(token)).status).toBe(200);
    // Once /token spent it, both routes see the replay.
    const again = await exchange(token);
    expect(again.status).toBe(400);
    expect(auditOf(again.body.request_id).reason).toBe('proof_replayed');
    const late = await explain();
    expect(late.status).toBe(400);
    expect(auditOf(late.body.request_id).reason).toBe('proof_replayed');
  });

  it('issue 8 item 11: a caller no rule matches spends nothing: the replay store is left untouched', async () => {
    const jti = `no-rule-${crypto.randomUUID()}`;
    const token = await good({ claims: { jti, sub: `n8n:${env.instance}:workflow:NoRuleMatchesThis` } });
    const first = await exchange(token);
    expect(first.status).toBe(400);
    expect(auditOf(first.body.request_id).reason).toBe('no_rule_matches');
    expect(await sb.deps.replay.isUsed(`n8n:n8n:${env.instance}:${jti}`)).toBe(false);
    // Presented again, it is still "no rule", never a replay: nothing was recorded.
    const second = await exchange(token);
    expect(auditOf(second.body.request_id).reason).toBe('no_rule_matches');
    // The key format is the one the exchange spends: an honoured assertion is recorded under it.
    const honouredJti = `honoured-${crypto.randomUUID()}`;
    expect((await exchange(await good({ claims: { jti: honouredJti } }))).status).toBe(200);
    expect(await sb.deps.replay.isUsed(`n8n:n8n:${env.instance}:${honouredJti}`)).toBe(true);
  });
});
