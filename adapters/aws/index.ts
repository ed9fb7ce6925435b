/**
 * AWS adapter: IAM role (or user) credentials proved by a signed sts:GetCallerIdentity (kind 1,
 * ./get-caller-identity.ts) or by an sts:GetWebIdentityToken JWT (kind 2, ./web-identity.ts).
 * Both name the principal the same way (./arn.ts), so one policy rule covers both.
 */
import { isLoopbackUrl, type AwsPlatformConfig } from '../../src/config/platforms/aws.ts';
import type { AdapterDeps, WorkloadVerifier } from '../../src/verify/contract.ts';
import { STS_DEFAULT_TIMEOUT_MS, STS_MAX_REQUEST_AGE_SEC } from './constants.ts';
import { createSigV4Verifier } from './get-caller-identity.ts';
import { buildStsHostAllowList } from './sts-hosts.ts';
import { createWebIdentityVerifier } from './web-identity.ts';

export type { AwsPlatformConfig } from '../../src/config/platforms/aws.ts';
export { AWS_AUDIENCE_HEADER } from './constants.ts';

export interface AwsRuntimeOptions {
  /** The deployment allows http:// to loopback (sandbox and tests): required by the emulator settings. */
  allowInsecureLoopback: boolean;
}

/**
 * The verifiers `platforms.aws` enables. Throws a TypeError naming the option when a sandbox-only
 * setting (an STS endpoint override, a loopback issuer) appears in a deployment that does not allow
 * insecure loopback, so such a configuration never starts.
 */
export function createAwsVerifiers(config: AwsPlatformConfig, deps: AdapterDeps, runtime: AwsRuntimeOptions): WorkloadVerifier[] {
  if (config.stsEndpointOverride !== undefined && !runtime.allowInsecureLoopback) {
    throw new TypeError('policy.platforms.aws.stsEndpointOverride: accepted only in the sandbox and tests (the bridge must allow insecure loopback); remove it');
  }
  for (const [i, w] of (config.webIdentityIssuers ?? []).entries()) {
    if (!runtime.allowInsecureLoopback && isLoopbackUrl(w.issuer)) {
      throw new TypeError(`policy.platforms.aws.webIdentityIssuers[${i}].issuer: a loopback issuer is accepted only in the sandbox and tests`);
    }
  }

  const verifiers: WorkloadVerifier[] = [];
  if (config.signedGetCallerIdentity !== false) {
    const partitions = config.partitions ?? ['aws'];
    verifiers.push(
      createSigV4Verifier(
        {
          allowed: buildStsHostAllowList({ partitions, regions: config.regions ?? [], globalEndpoint: config.globalEndpoint ?? partitions.includes('aws') }),
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
