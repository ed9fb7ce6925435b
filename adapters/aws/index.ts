/**
 * AWS adapter: IAM role (or user) credentials proved by a signed sts:GetCallerIdentity (kind 1,
 * ./get-caller-identity.ts) or by an sts:GetWebIdentityToken JWT (kind 2, ./web-identity.ts).
 * Both name the principal the same way (./arn.ts), so one policy rule covers both.
 */
import { ConfigError } from '../../src/config/config.ts';
import { TOKEN_TYPE } from '../../src/constants.ts';
import { definePlatform, type AdapterDeps, type WorkloadVerifier } from '../../src/verify/contract.ts';
import { isAwsAttribute } from './attributes.ts';
import { AwsPlatformSchema, awsConfigProblems, type AwsPlatformConfig, type AwsRuntime } from './config.ts';
import { STS_DEFAULT_TIMEOUT_MS, STS_MAX_REQUEST_AGE_SEC } from './constants.ts';
import { createSigV4Verifier } from './get-caller-identity.ts';
import { buildStsHostAllowList } from './sts-hosts.ts';
import { createWebIdentityVerifier } from './web-identity.ts';

export type { AwsPlatformConfig } from './config.ts';
export { AWS_AUDIENCE_HEADER } from './constants.ts';

export type AwsRuntimeOptions = AwsRuntime;

/**
 * The verifiers `platforms.aws` enables. Throws a ConfigError naming the option when a sandbox-only
 * setting (an STS endpoint override, a loopback issuer) appears in a deployment that does not allow
 * insecure loopback (loadConfig reports the same problems first), so such a configuration never starts.
 */
export function createAwsVerifiers(
  config: AwsPlatformConfig,
  deps: AdapterDeps,
  runtime: AwsRuntimeOptions,
): WorkloadVerifier[] {
  const problems = awsConfigProblems(config, runtime);
  if (problems.length > 0) throw new ConfigError(problems);

  const verifiers: WorkloadVerifier[] = [];
  if (config.signedGetCallerIdentity !== false) {
    const partitions = config.partitions ?? ['aws'];
    verifiers.push(
      createSigV4Verifier(
        {
          allowed: buildStsHostAllowList({
            partitions,
            regions: config.regions ?? [],
            globalEndpoint: config.globalEndpoint ?? partitions.includes('aws'),
          }),
          maxRequestAgeSec: config.maxRequestAgeSec ?? STS_MAX_REQUEST_AGE_SEC,
          stsTimeoutMs: config.stsTimeoutMs ?? STS_DEFAULT_TIMEOUT_MS,
          ...(config.stsEndpointOverride !== undefined ? { endpointOverride: config.stsEndpointOverride } : {}),
        },
        deps,
      ),
    );
  }
  const issuers = config.webIdentityIssuers ?? [];
  if (issuers.length > 0) verifiers.push(createWebIdentityVerifier(issuers, deps));
  return verifiers;
}

export const awsPlatform = definePlatform({
  name: 'aws',
  configSchema: AwsPlatformSchema,
  isAttribute: isAwsAttribute,
  proofTokenTypes: [TOKEN_TYPE.aws4Request, TOKEN_TYPE.jwt, TOKEN_TYPE.idToken],
  problems: awsConfigProblems,
  createVerifiers: createAwsVerifiers,
});
