/**
 * The sidecar's configuration (docs/sidecar.md#configuration): the public contract is
 * AGENT_ID_BRIDGE_URL, AGENT_ID_BRIDGE_PROOF, AGENT_ID_BRIDGE_SCOPES_<SERVICENAME> and
 * `--listen host:port`; AGENT_ID_BRIDGE_AUDIENCE and `--allow-non-loopback-callers` are for the
 * uncommon cases. Of Microsoft's sidecar configuration it honours DownstreamApis__<Name>__Scopes and
 * __RequestAppToken (https://learn.microsoft.com/en-us/entra/msidweb/agent-id-sdk/configuration), so
 * an existing deployment keeps its service names; the rest is named in a warning and ignored.
 */
import { DEFAULT_LISTEN_HOST, DEFAULT_LISTEN_PORT } from './constants.ts';
import { detectProof, parseProofSpec, type PlatformSignals, type ProofSpec } from './proof.ts';
import { serviceScopesVariable, type ServiceDefaults } from './request.ts';

export interface SidecarConfig {
  listen: { host: string; port: number };
  /** The bridge's base URL; exchanges go to <bridgeUrl>/token. */
  bridgeUrl: string;
  /** The bridge audience platform proofs are bound to (default: the bridge URL, its issuer). */
  audience: string;
  proof: ProofSpec;
  /** Why this proof: 'AGENT_ID_BRIDGE_PROOF' or what detection saw. */
  proofBecause: string;
  /** Upper-cased AGENT_ID_BRIDGE_SCOPES_ suffix or lower-cased DownstreamApis name → defaults. */
  services: ReadonlyMap<string, ServiceDefaults>;
  allowNonLoopbackCallers: boolean;
  /** Microsoft sidecar settings present in the environment that this sidecar ignores (names only). */
  ignored: string[];
}

export const USAGE = `agent-id-bridge-sidecar: Microsoft's Entra Auth SDK sidecar API, without a secret.
Usage: agent-id-bridge-sidecar [--listen host:port] [--allow-non-loopback-callers]
  AGENT_ID_BRIDGE_URL                  the bridge's base URL (required)
  AGENT_ID_BRIDGE_PROOF                aws-sigv4 | aws-web-identity | gcp | file:<path> | command:<cmd> (detected when unset)
  AGENT_ID_BRIDGE_SCOPES_<SERVICENAME> default scopes of a service name, e.g. AGENT_ID_BRIDGE_SCOPES_GRAPH=https://graph.microsoft.com/.default
  AGENT_ID_BRIDGE_AUDIENCE             the bridge audience, when it is not the bridge URL
Documentation: https://github.com/agent-id-bridge/agent-id-bridge/blob/main/docs/sidecar.md`;

export class SidecarConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SidecarConfigError';
  }
}

export function loadSidecarConfig(
  env: Record<string, string | undefined>,
  argv: readonly string[],
  signals: Omit<PlatformSignals, 'env'>,
): SidecarConfig {
  const args = parseArgs(argv);
  const bridgeUrl = httpsOrLoopbackUrl(env.AGENT_ID_BRIDGE_URL, 'AGENT_ID_BRIDGE_URL');
  const audience = env.AGENT_ID_BRIDGE_AUDIENCE?.trim() || bridgeUrl;
  let proof: ProofSpec;
  let proofBecause: string;
  try {
    if (env.AGENT_ID_BRIDGE_PROOF?.trim()) {
      proof = parseProofSpec(env.AGENT_ID_BRIDGE_PROOF);
      proofBecause = 'AGENT_ID_BRIDGE_PROOF';
    } else {
      const detected = detectProof({ env, ...signals });
      proof = detected.spec;
      proofBecause = `detected: ${detected.because}`;
    }
  } catch (e) {
    throw new SidecarConfigError((e as Error).message);
  }
  return {
    listen: args.listen,
    bridgeUrl,
    audience,
    proof,
    proofBecause,
    services: serviceDefaults(env),
    allowNonLoopbackCallers: args.allowNonLoopbackCallers,
    ignored: ignoredMicrosoftSettings(env),
  };
}

function parseArgs(argv: readonly string[]): {
  listen: { host: string; port: number };
  allowNonLoopbackCallers: boolean;
} {
  let listen = { host: DEFAULT_LISTEN_HOST, port: DEFAULT_LISTEN_PORT };
  let allowNonLoopbackCallers = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--listen' || arg.startsWith('--listen=')) {
      const value = arg === '--listen' ? argv[++i] : arg.slice('--listen='.length);
      if (value === undefined) throw new SidecarConfigError('--listen: expected host:port, e.g. 127.0.0.1:5178');
      listen = parseListen(value);
    } else if (arg === '--allow-non-loopback-callers') {
      allowNonLoopbackCallers = true;
    } else {
      throw new SidecarConfigError(`unknown argument ${JSON.stringify(arg)}\n${USAGE}`);
    }
  }
  return { listen, allowNonLoopbackCallers };
}

/** host:port, [v6]:port; port 0 picks a free one (tests). */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535)
    throw new SidecarConfigError(`--listen: ${JSON.stringify(value)} is not host:port, e.g. 127.0.0.1:5178`);
  return { host: (m[1] ?? m[2])!, port };
}

const LOOPBACK_HOST = /^(?:localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])$/;

/** The proof travels to the bridge: https, or http to a loopback bridge (the sandbox). */
function httpsOrLoopbackUrl(value: string | undefined, name: string): string {
  if (!value?.trim())
    throw new SidecarConfigError(`${name}: not set; set it to the bridge's base URL, e.g. https://bridge.example.com`);
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new SidecarConfigError(`${name}: ${JSON.stringify(value)} is not a URL`);
  }
  if (url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOST.test(url.hostname)))
    return url.href.replace(/\/$/, '');
  throw new SidecarConfigError(
    `${name}: must be https (http only to a bridge on loopback): the workload proof travels to it`,
  );
}

/** Scopes given as a space- or comma-separated list, as Microsoft's configuration and the Agents SDK take them. */
function splitScopes(value: string): string[] {
  return value.split(/[\s,]+/).filter((s) => s !== '');
}

function serviceDefaults(env: Record<string, string | undefined>): Map<string, ServiceDefaults> {
  const services = new Map<string, ServiceDefaults>();
  const microsoft = new Map<
    string,
    { scopes: string[]; indexed: [number, string][]; requestAppToken?: boolean; name: string }
  >();
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (key.startsWith('AGENT_ID_BRIDGE_SCOPES_')) {
      const scopes = splitScopes(value);
      if (scopes.length === 0)
        throw new SidecarConfigError(
          `${key}: empty; list the service's scopes, e.g. https://graph.microsoft.com/.default`,
        );
      services.set(`env:${key}`, { scopes, source: key });
      continue;
    }
    const m = /^DownstreamApis__(.+?)__(Scopes(?:__(\d+))?|RequestAppToken)$/i.exec(key);
    if (!m) continue;
    const name = m[1]!.toLowerCase();
    const entry = microsoft.get(name) ?? { scopes: [], indexed: [], name: m[1]! };
    if (m[2]!.toLowerCase() === 'requestapptoken') entry.requestAppToken = value.trim().toLowerCase() === 'true';
    else if (m[3] !== undefined) entry.indexed.push([Number(m[3]), value.trim()]);
    else entry.scopes.push(...splitScopes(value));
    microsoft.set(name, entry);
  }
  for (const [name, e] of microsoft) {
    const scopes = [...e.scopes, ...e.indexed.sort((a, b) => a[0] - b[0]).map(([, s]) => s)].filter((s) => s !== '');
    services.set(`ms:${name}`, {
      scopes,
      ...(e.requestAppToken !== undefined ? { requestAppToken: e.requestAppToken } : {}),
      source: `DownstreamApis__${e.name}__Scopes`,
    });
  }
  return services;
}

/** A service name's defaults: AGENT_ID_BRIDGE_SCOPES_<SERVICENAME> first, then Microsoft's DownstreamApis__<Name>. */
export function defaultsFor(config: Pick<SidecarConfig, 'services'>, serviceName: string): ServiceDefaults | undefined {
  const ours = config.services.get(`env:${serviceScopesVariable(serviceName)}`);
  const theirs = config.services.get(`ms:${serviceName.toLowerCase()}`);
  if (ours === undefined) return theirs?.scopes.length ? theirs : undefined;
  return theirs?.requestAppToken !== undefined ? { ...ours, requestAppToken: theirs.requestAppToken } : ours;
}

/** Microsoft sidecar settings this sidecar has no use for (docs/sidecar.md#microsofts-configuration-keys). */
function ignoredMicrosoftSettings(env: Record<string, string | undefined>): string[] {
  const groups = new Set<string>();
  for (const key of Object.keys(env)) {
    const lower = key.toLowerCase();
    if (lower.startsWith('azuread__clientcredentials__'))
      groups.add('AzureAd__ClientCredentials (no secret or certificate is needed: remove it)');
    else if (lower.startsWith('azuread__'))
      groups.add("AzureAd__* (the bridge's policy names the tenant, blueprint and agents)");
    else if (lower.startsWith('sidecar__'))
      groups.add("Sidecar__* (overrides are always honoured; the bridge's policy is what limits)");
    else if (
      /^downstreamapis__.+__(baseurl|relativepath|httpmethod|acceptheader|contenttype|acquiretokenoptions)/i.test(key)
    )
      groups.add(
        'DownstreamApis__<Name>__BaseUrl/RelativePath/HttpMethod/AcquireTokenOptions (no /DownstreamApi endpoint)',
      );
    else if (lower === 'aspnetcore_urls') groups.add('ASPNETCORE_URLS (use --listen host:port)');
  }
  return [...groups];
}
