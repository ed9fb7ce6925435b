/**
 * Sandbox n8n: an emulated n8n instance key (fresh on every start; nothing is stored) registered
 * inline under `platforms.n8n`, and a rule mapping one workflow of that instance to the sandbox agent.
 * The key's private JWK is in GET /_sandbox so the community node (or a script) can sign with it.
 */
import { exportJWK, generateKeyPair } from 'jose';
import { jwkThumbprint } from '../../adapters/n8n/index.ts';
import type { N8nPublicJwk } from '../../adapters/n8n/config.ts';
import type { SandboxPlatform, SandboxPlatformFactory } from './types.ts';

export const SANDBOX_N8N = {
  instanceId: 'sandbox-n8n',
  /** Shaped like n8n's own 16-character workflow ids. */
  workflowId: 'SbxAgentWorkflow',
} as const;

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
  const { instanceId, workflowId } = SANDBOX_N8N;
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
