/**
 * Sandbox n8n: an emulated n8n instance key (fresh on every start; nothing is stored) registered
 * inline under `platforms.n8n`, and a rule mapping one workflow of that instance to the sandbox agent.
 * The key's private JWK is in GET /_sandbox so the community node (or a script) can sign with it.
 */
import { exportJWK, generateKeyPair } from 'jose';
import { jwkThumbprint } from '../../adapters/n8n/index.ts';
import type { N8nPublicJwk } from '../../adapters/n8n/config.ts';
import type { Env } from '../../src/config/config.ts';
import type { SandboxPlatform, SandboxPlatformFactory } from './types.ts';

export const SANDBOX_N8N = {
  instanceId: 'sandbox-n8n',
  /** Shaped like n8n's own 16-character workflow ids; SANDBOX_N8N_WORKFLOW_ID replaces it. */
  workflowId: 'SbxAgentWorkflow',
} as const;

/** The workflow id n8n workflow ids are (docs/platforms/n8n.md#assertion-format). */
const WORKFLOW_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * The workflow the sandbox rule names: SANDBOX_N8N_WORKFLOW_ID when set (the id of a workflow that already
 * exists in your n8n, from its URL), else SbxAgentWorkflow (import a workflow with that id:
 * docs/platforms/n8n.md#sandbox).
 */
export function sandboxWorkflowId(env: Env = {}): string {
  const id = env.SANDBOX_N8N_WORKFLOW_ID?.trim();
  if (id === undefined || id === '') return SANDBOX_N8N.workflowId;
  if (!WORKFLOW_ID.test(id))
    throw new Error(
      'SANDBOX_N8N_WORKFLOW_ID: must be an n8n workflow id, 1-128 of [A-Za-z0-9_-] (the last part of the workflow URL)',
    );
  return id;
}

export interface N8nSandboxPlatform extends SandboxPlatform {
  instanceId: string;
  workflowId: string;
  kid: string;
  /** The instance's private key as a JWK (what the node's credential accepts, JSON-encoded). */
  privateJwk: Record<string, string>;
  publicJwk: N8nPublicJwk;
}

export const startN8nSandbox: SandboxPlatformFactory = async (ctx): Promise<N8nSandboxPlatform> => {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const pub = (await exportJWK(publicKey)) as { kty: 'EC'; crv: 'P-256'; x: string; y: string };
  const publicJwk: N8nPublicJwk = { kty: 'EC', crv: 'P-256', x: pub.x, y: pub.y };
  const kid = await jwkThumbprint(publicJwk);
  const privateJwk = { ...((await exportJWK(privateKey)) as Record<string, string>), kid };
  const { instanceId } = SANDBOX_N8N;
  const workflowId = sandboxWorkflowId(ctx.env);
  const principal = `n8n:${instanceId}:workflow:${workflowId}`;
  return {
    name: 'n8n',
    instanceId,
    workflowId,
    kid,
    privateJwk,
    publicJwk,
    platformConfig: { instances: { [instanceId]: { keys: [{ ...publicJwk, kid, alg: 'ES256', use: 'sig' }] } } },
    rules: [
      {
        name: 'sandbox-n8n-workflow',
        platform: 'n8n',
        principal,
        attributes: { instance_id: instanceId },
        agent: ctx.agentId,
        resources: [...ctx.resources],
        modes: ['autonomous', 'obo', 'agent_user'],
        agentUsers: [...ctx.agentUsers],
      },
    ],
    manifest: {
      instanceId,
      workflowId,
      privateJwk,
      agentId: ctx.agentId,
      kid,
      principal,
      audience: `${ctx.issuer}/token`,
    },
    banner: [
      `   n8n instance    ${instanceId} (ES256 key ${kid.slice(0, 12)}…), workflow ${workflowId} → agent ${ctx.agentId}`,
      `     Entra Agent Token credential: Bridge URL ${ctx.issuer}, Instance ID ${instanceId}, Private Key = /_sandbox n8n.privateJwk`,
    ],
    close: async () => {},
  };
};
