import { z } from 'zod';
import { isLoopbackHost } from '../../src/net/loopback.ts';

/** AWS partitions whose STS hosts the bridge knows (docs/platforms/aws.md#what-the-bridge-checks-and-why). */
export const AWS_PARTITIONS = ['aws', 'aws-cn', 'aws-us-gov'] as const;
export type AwsPartition = (typeof AWS_PARTITIONS)[number];

/** A region name such as us-east-1, cn-north-1, us-gov-west-1, ap-southeast-5. */
export const AWS_REGION_PATTERN = /^[a-z]{2}(?:-[a-z]+){1,2}-[0-9]{1,2}$/;

/** The per-account issuer AWS outbound identity federation assigns (docs/platforms/aws.md#kind-2-getwebidentitytoken). */
export const AWS_WEB_IDENTITY_ISSUER_PATTERN = /^https:\/\/[a-z0-9][a-z0-9-]{0,126}\.tokens\.sts\.global\.api\.aws$/;

/** The partition a region belongs to, or undefined for a region name this bridge does not know. */
export function partitionOfRegion(region: string): AwsPartition | undefined {
  if (!AWS_REGION_PATTERN.test(region)) return undefined;
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return /^(?:us|eu|ap|ca|sa|me|af|il|mx)-[a-z]+-[0-9]{1,2}$/.test(region) ? 'aws' : undefined;
}

/**
 * http(s)://<loopback>[:port][/path] without credentials, query or fragment: where the emulators live
 * (sandbox and tests). With `originOnly`, no path either.
 */
export function isLoopbackOrigin(value: string, originOnly = false): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return (
    isLoopbackHost(url) &&
    (url.protocol === 'http:' || url.protocol === 'https:') &&
    url.username === '' &&
    url.password === '' &&
    url.search === '' &&
    url.hash === '' &&
    (!originOnly || (url.pathname === '/' && !value.endsWith('/')))
  );
}

const region = z
  .string()
  .regex(AWS_REGION_PATTERN, 'must be an AWS region name such as eu-west-1, cn-north-1 or us-gov-west-1')
  .refine(
    (r) => partitionOfRegion(r) !== undefined,
    'is not a region of a partition this bridge knows (aws, aws-cn, aws-us-gov)',
  );

const WebIdentityIssuerSchema = z
  .object({
    account: z
      .string()
      .regex(/^[0-9]{12}$/, 'must be a 12-digit AWS account id')
      .describe('The AWS account the issuer belongs to; the token claim aws_account must equal it'),
    issuer: z
      .string()
      .refine(
        (v) => AWS_WEB_IDENTITY_ISSUER_PATTERN.test(v) || isLoopbackOrigin(v),
        'must be https://<id>.tokens.sts.global.api.aws (from "aws iam get-outbound-web-identity-federation-info"); a loopback URL only in the sandbox',
      )
      .describe('The account issuer URL, byte for byte, e.g. https://abc123-def456.tokens.sts.global.api.aws'),
  })
  .strict();

/** platforms.aws: present = AWS proofs are accepted (docs/platforms/aws.md#bridge-configuration-platformsaws-in-the-policy-file). */
export const AwsPlatformSchema = z
  .object({
    signedGetCallerIdentity: z
      .boolean()
      .optional()
      .describe(
        'Accept proof kind 1, a signed sts:GetCallerIdentity request (subject_token_type urn:ietf:params:aws:token-type:aws4_request); default true',
      ),
    partitions: z
      .array(z.enum(AWS_PARTITIONS))
      .min(1)
      .optional()
      .describe('Partitions whose STS hosts are accepted; default ["aws"]'),
    regions: z
      .array(region)
      .optional()
      .describe(
        'Regions whose STS endpoint sts.<region>.amazonaws.com (.com.cn in aws-cn) a proof may be signed for; each must be in an enabled partition; default none',
      ),
    globalEndpoint: z
      .boolean()
      .optional()
      .describe(
        'Accept proofs signed for the global endpoint sts.amazonaws.com (credential scope us-east-1, partition aws); default true when "aws" is enabled',
      ),
    maxRequestAgeSec: z
      .int()
      .min(60)
      .max(900)
      .optional()
      .describe('Oldest accepted x-amz-date, in seconds; STS itself refuses after 900; default 900'),
    stsTimeoutMs: z.int().min(100).max(30_000).optional().describe('Timeout of one call to STS; default 5000'),
    webIdentityIssuers: z
      .array(WebIdentityIssuerSchema)
      .optional()
      .describe(
        'Proof kind 2, sts:GetWebIdentityToken JWTs: the outbound identity federation issuer of each trusted account; default none',
      ),
    stsEndpointOverride: z
      .string()
      .refine(
        (v) => isLoopbackOrigin(v, true),
        'must be a loopback origin without a trailing slash, such as http://127.0.0.1:8790',
      )
      .optional()
      .describe(
        'Sandbox and tests only: where STS calls really go (the STS emulator). Refused unless the bridge allows insecure loopback; the host allow-list still applies to the host a proof was signed for',
      ),
  })
  .strict()
  .superRefine((aws, ctx) => {
    const partitions = new Set(aws.partitions ?? ['aws']);
    for (const [i, r] of (aws.regions ?? []).entries()) {
      const p = partitionOfRegion(r);
      if (p !== undefined && !partitions.has(p))
        ctx.addIssue({
          code: 'custom',
          path: ['regions', i],
          message: `region ${r} is in partition ${p}, which is not listed in partitions`,
        });
    }
    if (aws.globalEndpoint === true && !partitions.has('aws'))
      ctx.addIssue({
        code: 'custom',
        path: ['globalEndpoint'],
        message: 'the global endpoint sts.amazonaws.com belongs to partition "aws", which is not enabled',
      });
    const seen = new Set<string>();
    for (const [i, w] of (aws.webIdentityIssuers ?? []).entries()) {
      if (seen.has(w.issuer))
        ctx.addIssue({ code: 'custom', path: ['webIdentityIssuers', i, 'issuer'], message: 'listed twice' });
      seen.add(w.issuer);
    }
    if (aws.signedGetCallerIdentity === false && (aws.webIdentityIssuers ?? []).length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['webIdentityIssuers'],
        message:
          'with signedGetCallerIdentity false, at least one web identity issuer is needed (otherwise remove platforms.aws)',
      });
    }
  })
  .describe('Present = AWS proofs are accepted: signed GetCallerIdentity and/or GetWebIdentityToken JWTs');

export type AwsPlatformConfig = z.infer<typeof AwsPlatformSchema>;

export interface AwsRuntime {
  /** The deployment allows http:// to loopback (sandbox and tests): required by the emulator settings. */
  allowInsecureLoopback: boolean;
}

/**
 * Sandbox-only settings (an STS endpoint override, a loopback issuer) in a deployment that does not
 * allow insecure loopback, each naming its option: such a configuration never starts.
 */
export function awsConfigProblems(config: AwsPlatformConfig, runtime: AwsRuntime): string[] {
  if (runtime.allowInsecureLoopback) return [];
  const problems: string[] = [];
  if (config.stsEndpointOverride !== undefined) {
    problems.push(
      'policy.platforms.aws.stsEndpointOverride: accepted only in the sandbox and tests (the bridge must allow insecure loopback); remove it',
    );
  }
  for (const [i, w] of (config.webIdentityIssuers ?? []).entries()) {
    if (isLoopbackOrigin(w.issuer))
      problems.push(
        `policy.platforms.aws.webIdentityIssuers[${i}].issuer: a loopback issuer is accepted only in the sandbox and tests`,
      );
  }
  return problems;
}
