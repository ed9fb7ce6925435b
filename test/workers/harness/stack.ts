/**
 * The emulators a Worker under test talks to, started in Node (they are Node servers) on 127.0.0.1:
 * the Entra emulator with the sandbox tenant, whose FIC names `issuer`, and every sandbox platform
 * (the same modules `npm start` composes). Returns the Worker's bindings — vars and secrets exactly
 * as .dev.vars would hold them, in sandbox mode so that http to loopback is allowed — and the facts
 * a test needs to act as each workload.
 */
import { signGetCallerIdentityProof } from '../../../adapters/aws/client.ts';
import { generateSigningKeyJwk } from '../../../src/issuer/keys.ts';
import { startEntraEmulator, type EntraEmulator } from '../../emulators/entra/index.ts';
import type { AwsSandboxPlatform } from '../../../sandbox/platforms/aws.ts';
import type { GcpSandboxPlatform } from '../../../sandbox/platforms/gcp.ts';
import type { N8nSandboxPlatform } from '../../../sandbox/platforms/n8n.ts';
import type { OidcSandboxPlatform } from '../../../sandbox/platforms/oidc.ts';
import type { SandboxPlatform } from '../../../sandbox/platforms/types.ts';
import { SANDBOX_PLATFORMS, sandboxPolicy } from '../../../sandbox/sandbox.ts';
import { SANDBOX, sandboxTenant } from '../../../sandbox/tenant.ts';
import type { StackInfo } from './types.ts';

export interface WorkerStack {
  bindings: Record<string, string>;
  info: Omit<StackInfo, 'workloadUrl'>;
  entra: EntraEmulator;
  aws: AwsSandboxPlatform;
  gcp: GcpSandboxPlatform;
  n8n: N8nSandboxPlatform;
  oidc: OidcSandboxPlatform;
  /** A signed sts:GetCallerIdentity for the sandbox role (proof kind 1), made in Node as a workload would. */
  awsGetCallerIdentity(p?: { audience?: string; stsHost?: string }): Promise<string>;
  /**
   * A GetWebIdentityToken JWT (proof kind 2) from the STS emulator's issuer for the sandbox role. Not
   * through the AWS SDK here: under the Vitest plugin even Node-side modules resolve the SDK's browser
   * XML parser (DOMParser); test/e2e/aws.test.ts covers the SDK against the same emulator.
   */
  awsWebIdentityToken(p?: { audience?: string; alg?: 'RS256' | 'ES384' }): Promise<string>;
  close(): Promise<void>;
}

export async function startWorkerStack(opts: { issuer: string; signingKey?: string }): Promise<WorkerStack> {
  const { issuer } = opts;
  const closers: (() => Promise<void>)[] = [];
  try {
    const entra = await startEntraEmulator({ tenants: [sandboxTenant(issuer)], allowInsecureLoopbackIssuer: true });
    closers.push(() => entra.close());
    const platforms: SandboxPlatform[] = [];
    for (const start of SANDBOX_PLATFORMS) {
      const p = await start({
        issuer,
        audience: issuer,
        port: 0,
        agentId: SANDBOX.agentId,
        resources: [SANDBOX.graph, SANDBOX.api],
        agentUsers: [SANDBOX.agentUser.upn, SANDBOX.agentUser.oid],
      });
      platforms.push(p);
      closers.push(() => p.close());
    }
    const byName = <T extends SandboxPlatform>(name: SandboxPlatform['name']) =>
      platforms.find((p) => p.name === name) as T;
    const aws = byName<AwsSandboxPlatform>('aws');
    const gcp = byName<GcpSandboxPlatform>('gcp');
    const n8n = byName<N8nSandboxPlatform>('n8n');
    const oidc = byName<OidcSandboxPlatform>('oidc');
    const kubernetes = oidc.manifestSections!.kubernetes as StackInfo['kubernetes'];
    const region = String(aws.manifest.region);
    const creds = aws.emulator.credentials.sandbox;

    const bindings: Record<string, string> = {
      BRIDGE_MODE: 'sandbox',
      BRIDGE_ISSUER: issuer,
      BRIDGE_SIGNING_KEY: opts.signingKey ?? (await generateSigningKeyJwk()),
      BRIDGE_POLICY: JSON.stringify(sandboxPolicy(platforms)),
      ENTRA_AUTHORITY_HOST: entra.url,
      ENTRA_TIMEOUT_MS: '5000',
    };
    return {
      bindings,
      info: {
        issuer,
        audience: issuer,
        entraUrl: entra.url,
        tenantId: SANDBOX.tenantId,
        blueprintId: SANDBOX.blueprintId,
        agentId: SANDBOX.agentId,
        otherAgentId: SANDBOX.otherAgentId,
        graph: SANDBOX.graph,
        api: SANDBOX.api,
        humanUser: {
          username: SANDBOX.humanUser.upn,
          password: SANDBOX.humanUser.password,
          clientId: SANDBOX.clientAppId,
          scope: `api://${SANDBOX.blueprintId}/access_agent`,
        },
        gcp: { metadataHost: gcp.emulator.metadataHost },
        n8n: { instanceId: n8n.instanceId, workflowId: n8n.workflowId, privateJwk: n8n.privateJwk },
        aws: { roleArn: String(aws.manifest.roleArn), stsHost: String(aws.manifest.stsHost), region },
        kubernetes: {
          apiServer: kubernetes.apiServer,
          namespace: kubernetes.namespace,
          serviceAccount: kubernetes.serviceAccount,
          adminToken: kubernetes.adminToken,
        },
        githubActions: { requestUrl: oidc.github.job.requestUrl, requestToken: oidc.github.job.requestToken },
      },
      entra,
      aws,
      gcp,
      n8n,
      oidc,
      awsGetCallerIdentity: (p = {}) =>
        signGetCallerIdentityProof({
          credentials: creds,
          audience: p.audience ?? issuer,
          ...(p.stsHost ? { stsHost: p.stsHost } : { region }),
        }),
      awsWebIdentityToken: (p = {}) =>
        aws.emulator.mintWebIdentityToken({
          credential: creds,
          audiences: [p.audience ?? issuer],
          alg: p.alg ?? 'RS256',
          durationSec: 900,
        }),
      close: async () => {
        await Promise.all(closers.reverse().map((c) => c().catch(() => {})));
      },
    };
  } catch (e) {
    await Promise.all(closers.map((c) => c().catch(() => {})));
    throw e;
  }
}
