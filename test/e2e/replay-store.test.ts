/**
 * A replay store that cannot take another key answers 503 with a reason of its own, on the Node
 * runtime (the Workers twin is test/workers/replay-store.test.ts): never `proof_replayed`, never a
 * token. A full quota of one n8n instance leaves the other instances (and other platforms) served.
 */
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwkThumbprint } from '../../adapters/n8n/index.ts';
import type { N8nPublicJwk } from '../../adapters/n8n/config.ts';
import type { AuditEvent } from '../../src/audit/audit.ts';
import { TOKEN_TYPE } from '../../src/constants.ts';
import { MemoryReplayStore } from '../../src/store/memory.ts';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';
import { postToken } from '../support/http.ts';
import { signN8nAssertion } from '../workers/harness/n8n-assertion.ts';

const SECOND_INSTANCE = 'sandbox-n8n-second';
const SECOND_WORKFLOW = 'SecondWorkflow01';

interface N8nSigner {
  privateJwk: Record<string, string>;
  instanceId: string;
  workflowId: string;
}

function sandboxSigner(sb: Sandbox): N8nSigner {
  const m = sb.manifest.n8n as { instanceId: string; workflowId: string; privateJwk: Record<string, string> };
  return { privateJwk: m.privateJwk, instanceId: m.instanceId, workflowId: m.workflowId };
}

async function exchange(sb: Sandbox, signer: N8nSigner) {
  const assertion = await signN8nAssertion({ ...signer, audience: `${sb.url}/token` });
  return postToken(sb.url, { subject_token: assertion, subject_token_type: TOKEN_TYPE.jwt, resource: SANDBOX.graph });
}

function reasonOf(audit: AuditEvent[], requestId: unknown): string | undefined {
  return audit.find((e) => e.request_id === requestId)?.reason;
}

describe('a full replay store on Node', () => {
  const audit: AuditEvent[] = [];
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox({
      port: 0,
      audit: (e) => audit.push(e),
      replay: new MemoryReplayStore(undefined, { maxEntries: 1 }),
    });
  });
  afterAll(() => sb?.close());

  it('issue 13 item 2: a full replay store answers 503 temporarily_unavailable with its own reason and Retry-After, never proof_replayed', async () => {
    expect((await exchange(sb, sandboxSigner(sb))).status).toBe(200);
    const full = await exchange(sb, sandboxSigner(sb));
    expect(full.status).toBe(503);
    expect(full.body).toMatchObject({ error: 'temporarily_unavailable', request_id: expect.any(String) });
    expect(full.body).not.toHaveProperty('access_token');
    expect(Number(full.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(reasonOf(audit, full.body.request_id)).toBe('replay_store_unavailable');
    // Proofs that are not single-use do not need the store.
    const gcp = await postToken(sb.url, {
      subject_token: await sb.gcp.emulator.mintIdToken({ audience: sb.url, format: 'full' }),
      subject_token_type: TOKEN_TYPE.jwt,
      resource: SANDBOX.graph,
    });
    expect(gcp.status).toBe(200);
  });
});

describe('a full quota of one n8n instance on Node', () => {
  const audit: AuditEvent[] = [];
  let sb: Sandbox;
  let second: N8nSigner;
  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const pub = (await exportJWK(publicKey)) as { x: string; y: string };
    const publicJwk: N8nPublicJwk = { kty: 'EC', crv: 'P-256', x: pub.x, y: pub.y };
    const kid = await jwkThumbprint(publicJwk);
    second = {
      privateJwk: { ...((await exportJWK(privateKey)) as Record<string, string>), kid },
      instanceId: SECOND_INSTANCE,
      workflowId: SECOND_WORKFLOW,
    };
    sb = await startSandbox({
      port: 0,
      audit: (e) => audit.push(e),
      overrides: { BRIDGE_REPLAY_QUOTA_PER_ISSUER: '2' },
      policy: (p) => {
        (p.platforms.n8n as { instances: Record<string, unknown> }).instances[SECOND_INSTANCE] = {
          keys: [{ ...publicJwk, kid }],
        };
        p.rules.push({
          name: 'second-instance',
          platform: 'n8n',
          principal: `n8n:${SECOND_INSTANCE}:workflow:${SECOND_WORKFLOW}`,
          agent: SANDBOX.agentId,
          resources: [SANDBOX.graph],
        });
        return p;
      },
    });
  });
  afterAll(() => sb?.close());

  it('issue 8 item 11: a full quota per n8n instance answers 503 with its own reason; other instances are still served', async () => {
    const first = sandboxSigner(sb);
    expect((await exchange(sb, first)).status).toBe(200);
    expect((await exchange(sb, first)).status).toBe(200);
    const over = await exchange(sb, first);
    expect(over.status).toBe(503);
    expect(over.body).toMatchObject({ error: 'temporarily_unavailable' });
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(reasonOf(audit, over.body.request_id)).toBe('replay_quota_exceeded');
    expect(audit.find((e) => e.request_id === over.body.request_id)?.fields).toMatchObject({
      store: 'replay',
      condition: 'full',
      partition: `n8n:${first.instanceId}`,
    });
    // Another instance's fresh assertions are still accepted.
    expect((await exchange(sb, second)).status).toBe(200);
    expect((await exchange(sb, second)).status).toBe(200);
  });
});
