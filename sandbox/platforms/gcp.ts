/** Sandbox GCP: the metadata server + Google certs emulator and a rule for its service account. */
import { startGcpEmulator, type GcpEmulator } from '../../test/emulators/gcp/index.ts';
import type { SandboxPlatform, SandboxPlatformFactory } from './types.ts';

export interface GcpSandboxPlatform extends SandboxPlatform {
  emulator: GcpEmulator;
}

export const startGcpSandbox: SandboxPlatformFactory = async (ctx): Promise<GcpSandboxPlatform> => {
  const emulator = await startGcpEmulator({}, ctx.port);
  return {
    name: 'gcp',
    emulator,
    platformConfig: { jwksUrl: emulator.jwksUrl },
    rules: [
      {
        name: 'sandbox-gcp-service-account',
        platform: 'gcp',
        principal: emulator.serviceAccount.uniqueId,
        agent: ctx.agentId,
        resources: [...ctx.resources],
        modes: ['autonomous', 'obo', 'agent_user'],
        agentUsers: [...ctx.agentUsers],
      },
    ],
    manifest: {
      metadataHost: emulator.metadataHost,
      audience: ctx.audience,
      agentId: ctx.agentId,
      serviceAccount: {
        email: emulator.serviceAccount.email,
        uniqueId: emulator.serviceAccount.uniqueId,
        projectId: emulator.serviceAccount.projectId,
      },
      jwksUrl: emulator.jwksUrl,
    },
    banner: [
      `   GCP metadata    ${emulator.metadataHost}   (export GCE_METADATA_HOST=${emulator.metadataHost})`,
      '   Try it:',
      `     TOKEN=$(curl -s -H 'Metadata-Flavor: Google' 'http://${emulator.metadataHost}/computeMetadata/v1/instance/service-accounts/default/identity?audience=${encodeURIComponent(ctx.audience)}&format=full')`,
      `     curl -s ${ctx.issuer}/token -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange \\`,
      `       -d subject_token_type=urn:ietf:params:oauth:token-type:id_token -d "subject_token=$TOKEN" \\`,
      `       -d resource=${ctx.resources[0]}`,
    ],
    close: () => emulator.close(),
  };
};
