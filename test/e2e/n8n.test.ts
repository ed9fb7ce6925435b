/**
 * n8n end to end over real HTTP: an admin creates an instance key with the keygen and
 * registers its public half in the policy; the "Entra Agent Token" node signs an assertion with the
 * private half, POSTs it to /token; the bridge verifies it, applies the rule for that workflow and
 * runs the Entra agent flow against the Entra emulator; the token Entra issued names the agent.
 */
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateInstanceKey, type InstanceKeyPair } from '../../adapters/n8n/keygen.ts';
import type { AuditEvent } from '../../src/audit/audit.ts';
import {
  executionOf,
  loadNodePackage,
  type INodeExecutionData,
  type INodeParameters,
  type NodePackage,
} from '../adapters/n8n/n8n-context.ts';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';

const INSTANCE = 'n8n-prod-eu';
const WORKFLOW = 'Qm3xT8vL2pN6rS1w';

let sb: Sandbox;
let pkg: NodePackage;
let key: InstanceKeyPair;
const audit: AuditEvent[] = [];

async function verifiedByEntra(token: string): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, createLocalJWKSet(sb.entra.jwks() as never), { algorithms: ['RS256'] });
  return payload;
}

async function runNode(parameters: INodeParameters, items?: INodeExecutionData[]): Promise<Record<string, unknown>> {
  const out = await executionOf({
    nodeType: new pkg.EntraAgentToken(),
    credentialType: new pkg.EntraAgentTokenApi(),
    parameters,
    credentials: { bridgeUrl: sb.url, instanceId: INSTANCE, privateKey: key.privateKeyPem },
    workflow: { id: WORKFLOW, name: 'Mailbox triage', active: true },
    ...(items ? { items } : {}),
  }).run();
  return out[0]![0]!.json as Record<string, unknown>;
}

beforeAll(async () => {
  key = await generateInstanceKey(INSTANCE, 'ES256');
  pkg = await loadNodePackage();
  sb = await startSandbox({
    port: 0,
    audit: (e) => audit.push(e),
    // What docs/platforms/n8n.md tells an operator to add: the instance's public key and one rule per workflow.
    policy: (p) => {
      (p.platforms.n8n as { instances: Record<string, unknown> }).instances[INSTANCE] = { keys: [key.publicJwk] };
      p.rules.push({
        name: 'mailbox-triage',
        platform: 'n8n',
        principal: `n8n:${INSTANCE}:workflow:${WORKFLOW}`,
        agent: SANDBOX.agentId,
        resources: [SANDBOX.graph],
        modes: ['autonomous', 'obo'],
      });
      return p;
    },
  });
});
afterAll(() => sb?.close());

describe('n8n workflow → agent identity token (end to end)', () => {
  it('the /_sandbox n8n section names the sandbox instance, workflow, key and agent', async () => {
    const m = (await (await fetch(`${sb.url}/_sandbox`)).json()) as { n8n: Record<string, unknown> };
    expect(m.n8n).toMatchObject({
      instanceId: 'sandbox-n8n',
      workflowId: 'SbxAgentWorkflow',
      agentId: SANDBOX.agentId,
      privateJwk: { kty: 'EC', crv: 'P-256', d: expect.any(String) },
    });
  });

  it('autonomous: the node signs, the bridge exchanges, Entra issues an app token for the agent', async () => {
    const out = await runNode({ mode: 'autonomous', resource: SANDBOX.graph });
    expect(out.agentId).toBe(SANDBOX.agentId);
    const claims = await verifiedByEntra(String(out.accessToken));
    expect(claims).toMatchObject({
      aud: SANDBOX.graph,
      appid: SANDBOX.agentId,
      oid: SANDBOX.agentId,
      idtyp: 'app',
      tid: SANDBOX.tenantId,
      xms_par_app_azp: SANDBOX.blueprintId,
    });
    const event = audit.findLast((e) => e.platform === 'n8n' && e.outcome === 'issued');
    expect(event).toMatchObject({
      principal: `n8n:${INSTANCE}:workflow:${WORKFLOW}`,
      rule: 'mailbox-triage',
      agent: SANDBOX.agentId,
      context: { n8n_workflow_name: 'Mailbox triage' },
    });
    expect(sb.entra.calls.filter((c) => c.leg === 'leg1').every((c) => c.fmiPath === SANDBOX.agentId)).toBe(true);
  });

  it("on behalf of a signed-in user: the user's token, for the agent", async () => {
    const human = (
      sb.manifest.entra as { humanUser: { username: string; password: string; clientId: string; scope: string } }
    ).humanUser;
    const userToken = await sb.entra.signInUser(SANDBOX.tenantId, human);
    const out = await runNode(
      {
        mode: 'onBehalfOf',
        resource: SANDBOX.graph,
        userToken: '={{ $json.token }}',
        options: { scope: `${SANDBOX.graph}/User.Read` },
      },
      [{ json: { token: userToken } }],
    );
    const claims = await verifiedByEntra(String(out.accessToken));
    expect(claims).toMatchObject({
      aud: SANDBOX.graph,
      idtyp: 'user',
      oid: SANDBOX.humanUser.oid,
      appid: SANDBOX.agentId,
    });
  });

  it('the rule is the gate: agent-user mode is not in this rule, so the bridge refuses it', async () => {
    await expect(
      runNode({ mode: 'agentUser', resource: SANDBOX.graph, agentUser: SANDBOX.agentUser.upn }),
    ).rejects.toThrow(/refused the requested target: The requested mode is not allowed/);
  });
});
