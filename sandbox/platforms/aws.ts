/** Sandbox AWS: the STS emulator (with the sandbox account's web identity issuer) and a rule for its role. */
import { regionalStsHost } from '../../adapters/aws/sts-hosts.ts';
import {
  SANDBOX_ACCOUNT,
  SANDBOX_ROLE_ARN,
  startStsEmulator,
  type StsEmulator,
} from '../../test/emulators/sts/index.ts';
import type { SandboxPlatform, SandboxPlatformFactory } from './types.ts';

export interface AwsSandboxPlatform extends SandboxPlatform {
  emulator: StsEmulator;
}

const REGION = 'us-east-1';

export const startAwsSandbox: SandboxPlatformFactory = async (ctx): Promise<AwsSandboxPlatform> => {
  const emulator = await startStsEmulator({ region: REGION }, ctx.port);
  const creds = emulator.credentials.sandbox;
  const stsHost = regionalStsHost(REGION);
  const webIdentityIssuer = emulator.issuerOf(SANDBOX_ACCOUNT);
  return {
    name: 'aws',
    emulator,
    platformConfig: {
      partitions: ['aws'],
      regions: [REGION],
      webIdentityIssuers: [{ account: SANDBOX_ACCOUNT, issuer: webIdentityIssuer }],
      stsEndpointOverride: emulator.url,
    },
    rules: [
      {
        name: 'sandbox-aws-role',
        platform: 'aws',
        principal: SANDBOX_ROLE_ARN,
        attributes: { account: SANDBOX_ACCOUNT },
        agent: ctx.agentId,
        resources: [...ctx.resources],
        modes: ['autonomous', 'obo', 'agent_user'],
        agentUsers: [...ctx.agentUsers],
      },
    ],
    manifest: {
      region: REGION,
      accessKeyId: creds.accessKeyId,
      secretAccessKey: creds.secretAccessKey,
      sessionToken: creds.sessionToken,
      stsHost,
      stsEndpoint: emulator.url,
      roleArn: SANDBOX_ROLE_ARN,
      webIdentityIssuer,
      agentId: ctx.agentId,
    },
    banner: [
      `   AWS STS         ${emulator.url}   (sign for ${stsHost}; role ${SANDBOX_ROLE_ARN})`,
      // A JSON list: AWS CLI v1 would otherwise fetch an http:// parameter value as a URL.
      '   Try it (AWS CLI, proof kind 2):',
      `     TOKEN=$(AWS_ACCESS_KEY_ID=${creds.accessKeyId} AWS_SECRET_ACCESS_KEY=${creds.secretAccessKey} AWS_SESSION_TOKEN=${creds.sessionToken} \\`,
      `       aws sts get-web-identity-token --region ${REGION} --endpoint-url ${emulator.url} --audience '["${ctx.audience}"]' --signing-algorithm RS256 --query WebIdentityToken --output text)`,
      `     curl -s ${ctx.issuer}/token -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange \\`,
      `       -d subject_token_type=urn:ietf:params:oauth:token-type:jwt -d "subject_token=$TOKEN" -d resource=${ctx.resources[0]}`,
    ],
    close: () => emulator.close(),
  };
};
