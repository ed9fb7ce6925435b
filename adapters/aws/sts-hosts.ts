/**
 * The STS host allow-list (docs/platforms/aws.md#what-the-bridge-checks-and-why). A signed GetCallerIdentity names the host it
 * was signed for; the bridge only ever connects to a host on this list, built from configuration.
 */
import { partitionOfRegion, type AwsPartition } from './config.ts';

export interface StsEndpoint {
  /** Lower-case DNS name, no port. */
  readonly host: string;
  /** The credential-scope region STS requires for this host. */
  readonly region: string;
  readonly partition: AwsPartition;
  readonly global: boolean;
}

export interface StsHostPolicy {
  partitions: readonly AwsPartition[];
  regions: readonly string[];
  globalEndpoint: boolean;
}

/** The global endpoint only accepts a us-east-1 credential scope (docs/platforms/aws.md#what-the-bridge-checks-and-why). */
export const GLOBAL_STS_HOST = 'sts.amazonaws.com';
const GLOBAL_STS_REGION = 'us-east-1';

const DNS_SUFFIX: Record<AwsPartition, string> = {
  aws: 'amazonaws.com',
  'aws-cn': 'amazonaws.com.cn',
  'aws-us-gov': 'amazonaws.com',
};

/** The regional STS host of a region, e.g. sts.eu-west-1.amazonaws.com or sts.cn-north-1.amazonaws.com.cn. */
export function regionalStsHost(region: string): string {
  const partition = partitionOfRegion(region);
  if (partition === undefined) throw new TypeError(`unknown AWS region ${JSON.stringify(region)}`);
  return `sts.${region}.${DNS_SUFFIX[partition]}`;
}

/** Exact-match table of the hosts the configuration allows; nothing else is ever contacted. */
export function buildStsHostAllowList(policy: StsHostPolicy): ReadonlyMap<string, StsEndpoint> {
  const hosts = new Map<string, StsEndpoint>();
  const partitions = new Set(policy.partitions);
  if (policy.globalEndpoint && partitions.has('aws')) {
    hosts.set(GLOBAL_STS_HOST, { host: GLOBAL_STS_HOST, region: GLOBAL_STS_REGION, partition: 'aws', global: true });
  }
  for (const region of policy.regions) {
    const partition = partitionOfRegion(region);
    if (partition === undefined || !partitions.has(partition)) continue;
    const host = regionalStsHost(region);
    hosts.set(host, { host, region, partition, global: false });
  }
  return hosts;
}

/** The configured STS endpoints with the credential-scope region each takes: public configuration. */
export function acceptedEndpoints(allowed: ReadonlyMap<string, StsEndpoint>): string {
  return [...allowed.values()].map((e) => `https://${e.host}/ (${e.region})`).join(', ');
}

/**
 * What to tell a workload whose credential scope does not fit the host it signed for: STS accepts a
 * scope only for the region of the endpoint (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_region.html).
 * `detail` is for the audit log; `publicDetail` names only what the caller sent and the configured
 * endpoints, which are public.
 */
export function regionScopeAdvice(
  endpoint: StsEndpoint,
  scopeRegion: string,
  allowed: ReadonlyMap<string, StsEndpoint>,
): { detail: string; publicDetail: string } {
  const fitting = [...allowed.values()].find((e) => e.region === scopeRegion && !e.global);
  const hint = fitting
    ? `sign for https://${fitting.host}/ (credential scope ${scopeRegion})`
    : `sign for https://${endpoint.host}/ with credential scope ${endpoint.region}, or have ${scopeRegion} added to platforms.aws.regions`;
  const said = `credential scope region ${scopeRegion} does not fit ${endpoint.host}, which only accepts ${endpoint.region}`;
  const publicHint = fitting
    ? `sign for https://${fitting.host}/ instead`
    : `sign for https://${endpoint.host}/ with region ${endpoint.region}; accepted STS endpoints: ${acceptedEndpoints(allowed)}`;
  return { detail: `${said}: ${hint}`, publicDetail: `The ${said}: ${publicHint}.` };
}
