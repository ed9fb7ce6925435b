/**
 * The local sandbox behind `npm start` with no configuration: the bridge on 127.0.0.1:8787 plus
 * the Entra and GCP emulators on loopback, a sandbox policy and sandbox credentials, and
 * GET /_sandbox describing all of it. Tests start the same thing on random ports.
 */
import { isConfigured, loadConfig, type Env } from '../../src/config/config.ts';
import { buildApp } from '../../src/compose.ts';
import type { AppDeps } from '../../src/app.ts';
import type { AuditSink } from '../../src/audit/audit.ts';
import { generateSigningKeyJwk } from '../../src/issuer/keys.ts';
import { listen, nodePorts, type RunningServer } from '../../src/node.ts';
import { startEntraEmulator, type EntraEmulator } from '../emulators/entra/index.ts';
import { startGcpEmulator, type GcpEmulator } from '../emulators/gcp/index.ts';
import { SANDBOX, sandboxTenant } from './tenant.ts';

export interface SandboxOptions {
  /** Bridge port (default 8787; 0 = random). */
  port?: number;
  /** Emulator ports (default bridge port + 1, + 2; random when the bridge port is 0). */
  entraPort?: number;
  gcpPort?: number;
  /** The environment the sandbox is started from: refused if it configures a real bridge. */
  env?: Env;
  /** Extra bridge variables (tests: timeouts, rate limits), applied over the sandbox's own. */
  overrides?: Env;
  /** Replace the policy (YAML/JSON); `{{...}}` placeholders are filled as in the sandbox policy. */
  policy?: string;
  audit?: AuditSink;
  entraTransport?: 'msal' | 'fetch';
  sleep?: (ms: number) => Promise<void>;
}

export interface Sandbox {
  readonly url: string;
  readonly manifest: Record<string, unknown>;
  readonly entra: EntraEmulator;
  readonly gcp: GcpEmulator;
  readonly deps: AppDeps;
  close(): Promise<void>;
}

/** The sandbox policy: the sandbox service account may act as agent one, in every mode. */
export const SANDBOX_POLICY = `
version: 1
tenants:
  - tenantId: ${SANDBOX.tenantId}
    name: sandbox
    blueprints:
      - appId: ${SANDBOX.blueprintId}
        agents:
          - { id: ${SANDBOX.agentId}, name: sandbox-agent-one }
          - { id: ${SANDBOX.otherAgentId}, name: sandbox-agent-two }
platforms:
  gcp: { jwksUrl: "{{gcpJwksUrl}}" }
rules:
  - name: sandbox-gcp-service-account
    platform: gcp
    principal: "{{gcpPrincipal}}"
    agent: ${SANDBOX.agentId}
    resources: [${SANDBOX.graph}, ${SANDBOX.api}]
    modes: [autonomous, obo, agent_user]
    agentUsers: [${SANDBOX.agentUser.upn}, ${SANDBOX.agentUser.oid}]
`;

export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  if (opts.env && isConfigured(opts.env)) {
    throw new Error('refusing to start the sandbox: bridge configuration is present (BRIDGE_*/ENTRA_* variables); the sandbox never runs beside a real tenant');
  }
  const port = opts.port ?? 8787;
  const servers: { close(): Promise<void> }[] = [];
  try {
    const entraBox: { tenantFics?: (issuer: string) => void } = {};
    const bridgeHandler: { fetch?: (req: Request) => Response | Promise<Response> } = {};
    const bridge = await listen('127.0.0.1', port, (req) => (bridgeHandler.fetch ? bridgeHandler.fetch(req) : new Response('starting', { status: 503 })));
    servers.push(bridge);
    const issuer = bridge.url;

    const tenant = sandboxTenant(issuer);
    const entra = await startEntraEmulator({ tenants: [tenant], allowInsecureLoopbackIssuer: true }, opts.entraPort ?? (port === 0 ? 0 : port + 1));
    servers.push(entra);
    const gcp = await startGcpEmulator({}, opts.gcpPort ?? (port === 0 ? 0 : port + 2));
    servers.push(gcp);
    void entraBox;

    const fill = (text: string) => text.replaceAll('{{gcpJwksUrl}}', gcp.jwksUrl).replaceAll('{{gcpPrincipal}}', gcp.serviceAccount.uniqueId);
    const env: Env = {
      BRIDGE_ISSUER: issuer,
      BRIDGE_SIGNING_KEY: await generateSigningKeyJwk(),
      BRIDGE_POLICY: fill(opts.policy ?? SANDBOX_POLICY),
      ENTRA_AUTHORITY_HOST: entra.url,
      ...opts.overrides,
    };
    const config = loadConfig(env, { mode: 'sandbox' });
    const manifest = sandboxManifest(issuer, config.audience, entra, gcp);
    const { app, deps } = await buildApp(
      config,
      nodePorts({
        ...(opts.entraTransport === 'fetch' ? { entraTransport: (await import('../../src/entra/transport-fetch.ts')).createFetchTransport } : {}),
        ...(opts.audit ? { audit: opts.audit } : {}),
        ...(opts.sleep ? { sleep: opts.sleep } : {}),
        sandboxManifest: () => manifest,
      }),
    );
    bridgeHandler.fetch = app.fetch;
    return {
      url: issuer,
      manifest,
      entra,
      gcp,
      deps,
      close: async () => {
        await Promise.all(servers.map((s) => s.close()));
      },
    };
  } catch (e) {
    await Promise.all(servers.map((s) => s.close().catch(() => {})));
    throw e;
  }
}

function sandboxManifest(bridge: string, audience: string, entra: EntraEmulator, gcp: GcpEmulator): Record<string, unknown> {
  return {
    sandbox: true,
    warning: 'LOCAL SANDBOX: emulated Entra, GCP and fake credentials. Nothing here is a real tenant or a real token.',
    bridge,
    issuer: bridge,
    audience,
    tenantId: SANDBOX.tenantId,
    blueprintId: SANDBOX.blueprintId,
    entra: {
      url: entra.url,
      tenantId: SANDBOX.tenantId,
      tokenEndpoint: `${entra.url}/${SANDBOX.tenantId}/oauth2/v2.0/token`,
      jwksUri: `${entra.url}/${SANDBOX.tenantId}/discovery/v2.0/keys`,
      humanUser: { username: SANDBOX.humanUser.upn, password: SANDBOX.humanUser.password, clientId: SANDBOX.clientAppId, scope: `api://${SANDBOX.blueprintId}/access_agent` },
      agentUser: SANDBOX.agentUser,
    },
    agents: [
      { id: SANDBOX.agentId, name: 'sandbox-agent-one', resources: [SANDBOX.graph, SANDBOX.api], modes: ['autonomous', 'obo', 'agent_user'] },
      { id: SANDBOX.otherAgentId, name: 'sandbox-agent-two', resources: [], modes: [] },
    ],
    gcp: {
      metadataHost: gcp.metadataHost,
      audience,
      agentId: SANDBOX.agentId,
      serviceAccount: { email: gcp.serviceAccount.email, uniqueId: gcp.serviceAccount.uniqueId, projectId: gcp.serviceAccount.projectId },
      jwksUrl: gcp.jwksUrl,
    },
  };
}

export function banner(s: Sandbox): string {
  const m = s.manifest as { gcp: { metadataHost: string }; entra: { url: string } };
  return [
    '',
    '  ==================================================================',
    '   agent-id-bridge  LOCAL SANDBOX  (emulated Entra and GCP; loopback only)',
    '   Nothing here touches a real tenant. Configure BRIDGE_* to run for real.',
    '  ==================================================================',
    `   bridge          ${s.url}   (manifest: ${s.url}/_sandbox)`,
    `   Entra emulator  ${m.entra.url}   tenant ${SANDBOX.tenantId}`,
    `   GCP metadata    ${m.gcp.metadataHost}   (export GCE_METADATA_HOST=${m.gcp.metadataHost})`,
    '',
    '   Try it:',
    `     TOKEN=$(curl -s -H 'Metadata-Flavor: Google' 'http://${m.gcp.metadataHost}/computeMetadata/v1/instance/service-accounts/default/identity?audience=${encodeURIComponent(s.url)}&format=full')`,
    `     curl -s ${s.url}/token -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange \\`,
    `       -d subject_token_type=urn:ietf:params:oauth:token-type:id_token -d "subject_token=$TOKEN" \\`,
    `       -d resource=${SANDBOX.graph}`,
    '',
  ].join('\n');
}
