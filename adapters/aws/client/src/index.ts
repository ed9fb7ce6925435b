/**
 * @agent-id-bridge/aws: the workload side for AWS (Lambda, Bedrock action groups, AgentCore
 * Runtime, ECS, EC2): prove the execution role's identity to the bridge and get an agent token,
 * cached until shortly before it expires. Credentials and region come from the AWS SDK's default
 * chains (environment, container and instance metadata, SSO, profiles), as the SDK resolves them
 * for an `STSClient`; so does the STS endpoint (`AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`).
 *
 * Two proofs (docs/platforms/aws.md#kind-1-signed-getcalleridentity).
 * - 'get-caller-identity' (default): signs sts:GetCallerIdentity with the SDK's SigV4 signer,
 *   binding it to the bridge with the signed `x-agent-id-bridge-audience` header. Sends nothing to
 *   AWS; the bridge forwards the signed request to STS. Works in every account. It is signed for
 *   the regional STS host of the SDK's region, or for the STS host `AWS_ENDPOINT_URL_STS` names
 *   when that is an amazonaws.com STS host (an emulator or VPC endpoint URL is not signed for: the
 *   bridge only forwards to STS's own hosts).
 * - 'web-identity-token': calls sts:GetWebIdentityToken (outbound identity federation must be
 *   enabled for the account, and the role needs sts:GetWebIdentityToken). The bridge verifies the
 *   JWT offline.
 *
 * @example
 * const agent = createAwsAgentTokenSource({ bridgeUrl: 'https://bridge.example', audience: 'https://bridge.example', resource: 'https://graph.microsoft.com' });
 * const { accessToken } = await agent.getToken();
 */
import { GetWebIdentityTokenCommand, STSClient } from '@aws-sdk/client-sts';
import { Sha256 } from '@smithy/core/checksum';
import { HttpRequest } from '@smithy/core/protocols';
import { SignatureV4 } from '@smithy/signature-v4';
import {
  BridgeExchangeError,
  createAgentTokenSource,
  TOKEN_TYPE,
  type AgentToken,
  type AgentTokenSource,
  type Proof,
} from '../../../client/src/index.ts';
import { AWS_AUDIENCE_HEADER, STS_API_VERSION } from '../../constants.ts';

export { BridgeExchangeError, type AgentToken, type AgentTokenSource, type Proof };

export type AwsProofKind = 'get-caller-identity' | 'web-identity-token';

export interface AwsAgentTokenOptions {
  bridgeUrl: string;
  /** The bridge audience (its issuer URL unless configured otherwise). */
  audience: string;
  /** Default 'get-caller-identity'. */
  proof?: AwsProofKind;
  resource?: string;
  scope?: string;
  /** Agent identity client id; optional when the policy maps this workload to exactly one agent. */
  agent?: string;
  /** Agent-user mode: the agent's user account (UPN or object id). */
  agentUser?: string;
  /** Default `new STSClient({})`: region and credentials from the SDK's default provider chains. */
  sts?: STSClient;
  /**
   * get-caller-identity: the STS host to sign for; default the host of `AWS_ENDPOINT_URL_STS` (or
   * `AWS_ENDPOINT_URL`) when that is an STS host, else the regional endpoint of the client's region.
   */
  stsHost?: string;
  /** web-identity-token: default 'RS256'. */
  signingAlgorithm?: 'RS256' | 'ES384';
  /** web-identity-token: 60–3600, default 300. */
  durationSeconds?: number;
  fetch?: typeof fetch;
}

/** `getToken({ userToken })` switches to OBO mode: the proof then travels as the actor token. */
export type AwsAgentTokenSource = AgentTokenSource;

/** What an AWS proof needs: the options of `createAwsAgentTokenSource` that are about the proof. */
export type AwsProofOptions = Pick<
  AwsAgentTokenOptions,
  'audience' | 'proof' | 'sts' | 'stsHost' | 'signingAlgorithm' | 'durationSeconds'
>;

/**
 * A fresh AWS proof on every call (kind 1 or kind 2), for a token source of your own or for the
 * sidecar (@agent-id-bridge/sidecar); `createAwsAgentTokenSource` builds on it.
 */
export function createAwsProof(opts: AwsProofOptions): () => Promise<Proof> {
  const sts = opts.sts ?? new STSClient({});
  const kind = opts.proof ?? 'get-caller-identity';
  const stsHost = opts.stsHost ?? stsHostFromEnvironment(process.env);

  return async function proof(): Promise<Proof> {
    if (kind === 'web-identity-token') {
      const out = await sts.send(
        new GetWebIdentityTokenCommand({
          Audience: [opts.audience],
          SigningAlgorithm: opts.signingAlgorithm ?? 'RS256',
          DurationSeconds: opts.durationSeconds ?? 300,
        }),
      );
      if (!out.WebIdentityToken) throw new Error('GetWebIdentityToken answered without a token');
      return { token: out.WebIdentityToken, tokenType: TOKEN_TYPE.jwt };
    }
    const token = await signGetCallerIdentityProof({
      credentials: await sts.config.credentials(),
      audience: opts.audience,
      ...(stsHost !== undefined ? { stsHost } : { region: await sts.config.region() }),
    });
    return { token, tokenType: TOKEN_TYPE.aws4Request };
  };
}

export function createAwsAgentTokenSource(opts: AwsAgentTokenOptions): AwsAgentTokenSource {
  return createAgentTokenSource({
    bridgeUrl: opts.bridgeUrl,
    proof: createAwsProof(opts),
    resource: opts.resource,
    scope: opts.scope,
    agent: opts.agent,
    agentUser: opts.agentUser,
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
}

const STS_HOST = /^sts\.(?:[a-z0-9-]+\.)?amazonaws\.com(?:\.cn)?$/;

/**
 * The STS host named by the SDK's endpoint variables (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html),
 * when it is one of STS's own hosts; undefined otherwise (then the region decides).
 */
export function stsHostFromEnvironment(env: Record<string, string | undefined>): string | undefined {
  const url = env.AWS_ENDPOINT_URL_STS || env.AWS_ENDPOINT_URL;
  if (!url) return undefined;
  try {
    const { hostname, protocol } = new URL(url);
    return protocol === 'https:' && STS_HOST.test(hostname.toLowerCase()) ? hostname.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

export interface GetCallerIdentityProofParams {
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** The bridge audience; goes into the signed x-agent-id-bridge-audience header. */
  audience: string;
  /** Sign for the regional endpoint of this region ... */
  region?: string;
  /** ... or for this host (sts.amazonaws.com is signed for us-east-1). */
  stsHost?: string;
  /** Default now. */
  signingDate?: Date;
}

/**
 * A signed sts:GetCallerIdentity, serialized as the bridge (and Google's workload identity
 * federation) accepts it: urlencode(JSON {url, method, headers: [{key, value}], body}), with the
 * action in the query string and an empty body.
 */
export async function signGetCallerIdentityProof(p: GetCallerIdentityProofParams): Promise<string> {
  const { host, region } = signingTarget(p);
  const query = { Action: 'GetCallerIdentity', Version: STS_API_VERSION };
  const signer = new SignatureV4({ service: 'sts', region, credentials: p.credentials, sha256: Sha256 });
  const signed = await signer.sign(
    new HttpRequest({
      method: 'POST',
      protocol: 'https:',
      hostname: host,
      path: '/',
      query,
      headers: { host, [AWS_AUDIENCE_HEADER]: p.audience },
      body: '',
    }),
    p.signingDate ? { signingDate: p.signingDate } : {},
  );
  const headers = Object.entries(signed.headers).map(([key, value]) => ({ key, value: String(value) }));
  return encodeURIComponent(
    JSON.stringify({
      url: `https://${host}/?${new URLSearchParams(query).toString()}`,
      method: 'POST',
      headers,
      body: '',
    }),
  );
}

function signingTarget(p: { region?: string; stsHost?: string }): { host: string; region: string } {
  if (p.stsHost !== undefined) {
    const host = p.stsHost.toLowerCase();
    if (host === 'sts.amazonaws.com') return { host, region: 'us-east-1' };
    const m = /^sts\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/.exec(host);
    if (!m)
      throw new TypeError(
        `stsHost: ${JSON.stringify(p.stsHost)} is not an STS endpoint (sts.amazonaws.com or sts.<region>.amazonaws.com)`,
      );
    return { host, region: m[1]! };
  }
  const region = p.region;
  if (!region || !/^[a-z]{2}(?:-[a-z]+){1,2}-[0-9]{1,2}$/.test(region))
    throw new TypeError('region: set AWS_REGION, or pass region or stsHost');
  // The regional endpoint: STS requires the credential scope to name its region (docs/platforms/aws.md#kind-1-signed-getcalleridentity).
  return { host: `sts.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`, region };
}
