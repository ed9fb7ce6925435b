/**
 * The local sandbox behind `npm start` with no configuration: the bridge on 127.0.0.1:8787 plus
 * the Entra emulator and each platform's emulators on loopback, a sandbox policy and sandbox
 * credentials, and GET /_sandbox describing all of it. Tests start the same thing on random ports.
 */
import { isConfigured, loadConfig, type Env } from '../src/config/config.ts';
import { buildApp } from '../src/compose.ts';
import { DEFAULT_PORT, REPLAY_MAX_ENTRIES } from '../src/constants.ts';
import { PLATFORMS } from '../src/platforms.ts';
import type { AppDeps } from '../src/app.ts';
import type { AuditSink } from '../src/audit/audit.ts';
import type { ReplayStore } from '../src/store/ports.ts';
import { generateSigningKeyJwk } from '../src/issuer/keys.ts';
import { createFetchTransport } from '../src/entra/transport-fetch.ts';
import { listen, nodeClientOrigin, nodePorts, redisPorts, type NodeHandler } from '../src/node.ts';
import { Readiness } from '../src/lifecycle/readiness.ts';
import { isLoopbackHost } from '../src/net/loopback.ts';
import { randomBytes } from 'node:crypto';
import { startEntraEmulator, type EntraEmulator } from '../test/emulators/entra/index.ts';
import type { EmulatedTenant } from '../test/emulators/entra/model.ts';
import { startAwsSandbox } from './platforms/aws.ts';
import { startGcpSandbox, type GcpSandboxPlatform } from './platforms/gcp.ts';
import { startN8nSandbox } from './platforms/n8n.ts';
import { startOidcSandbox } from './platforms/oidc.ts';
import type { SandboxPlatform, SandboxPlatformFactory } from './platforms/types.ts';
import { SANDBOX, sandboxTenant } from './tenant.ts';

export interface SandboxOptions {
  /** Bridge port (default 8787; 0 = random). Emulators take the following ports (random with 0). */
  port?: number;
  /** The environment the sandbox is started from: refused if it configures a real bridge. */
  env?: Env;
  /** Extra bridge variables (tests: timeouts, rate limits), applied over the sandbox's own. */
  overrides?: Env;
  /** Rewrite the sandbox policy (tests). */
  policy?: (policy: SandboxPolicy) => SandboxPolicy;
  audit?: AuditSink;
  entraTransport?: 'msal' | 'fetch';
  sleep?: (ms: number) => Promise<void>;
  /** The bridge's clock in unix seconds (tests that count per-minute windows pin it). */
  clock?: () => number;
  /** Replace the in-process replay store (tests: a small one, to show a full store's answer). */
  replay?: ReplayStore;
  /** Bridge servers sharing one Redis (default: SANDBOX_REPLICAS from `env`, else 1). More than one needs `redisUrl`. */
  replicas?: number;
  /** The Redis the replicas share (default: SANDBOX_REDIS_URL from `env`); loopback only, like everything in the sandbox. */
  redisUrl?: string;
  /** Rewrite the emulated Entra tenant (benchmarks: more agents), as `policy` rewrites the policy. */
  tenant?: (tenant: EmulatedTenant) => EmulatedTenant;
  /**
   * Benchmarks only (`npm run bench`): every admission and rate limit at its configured maximum
   * (SANDBOX_LIFTED_LIMITS), so a load run measures served exchanges rather than 429s. Never a
   * default: the sandbox a user starts keeps the production limits.
   */
  liftLimits?: boolean;
}

/**
 * The limits `liftLimits` sets, each at the maximum src/config/config.ts accepts for it: the
 * per-principal limit, the admission limits of src/limits/ (per client, credential and issuer; the
 * verifications in flight) and one n8n instance's share of the replay store.
 */
export const SANDBOX_LIFTED_LIMITS: Readonly<Env> = {
  BRIDGE_RATE_LIMIT_PER_MINUTE: '1000000',
  BRIDGE_CLIENT_RATE_LIMIT_PER_MINUTE: '1000000',
  BRIDGE_CREDENTIAL_RATE_LIMIT_PER_MINUTE: '1000000',
  BRIDGE_ISSUER_RATE_LIMIT_PER_MINUTE: '10000000',
  BRIDGE_MAX_CONCURRENT_VERIFICATIONS: '10000',
  BRIDGE_REPLAY_QUOTA_PER_ISSUER: String(REPLAY_MAX_ENTRIES),
};

export interface SandboxPolicy {
  version: 1;
  tenants: Record<string, unknown>[];
  platforms: Record<string, Record<string, unknown>>;
  rules: Record<string, unknown>[];
  deny?: Record<string, unknown>;
}

export interface Sandbox {
  readonly url: string;
  readonly manifest: Record<string, unknown>;
  readonly entra: EntraEmulator;
  readonly gcp: GcpSandboxPlatform;
  readonly platforms: readonly SandboxPlatform[];
  /** The first replica's dependencies (the one at `url`). */
  readonly deps: AppDeps;
  /** Base URLs of every bridge server, the first being `url` (the issuer). */
  readonly replicas: readonly string[];
  readonly store: 'memory' | 'redis';
  /** Whether every replica's Redis connection is up (true without Redis). */
  storeReady(): boolean;
  readonly banner: string[];
  close(): Promise<void>;
}

/**
 * Platforms in the sandbox, in port order after the Entra emulator (the Workers tests start the same).
 * oidc takes two ports (Kubernetes API server, GitHub Actions token service).
 */
export const SANDBOX_PLATFORMS: readonly SandboxPlatformFactory[] = [
  startGcpSandbox,
  startAwsSandbox,
  startN8nSandbox,
  startOidcSandbox,
];

/** Port offsets from the bridge's: Entra at +1, then each platform's ports, then the replicas. */
const platformPortOffset = (index: number) =>
  2 + SANDBOX_PLATFORMS.slice(0, index).reduce((n, p) => n + (p.ports ?? 1), 0);

export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  if (opts.env && isConfigured(opts.env)) {
    throw new Error(
      'refusing to start the sandbox: bridge configuration is present (BRIDGE_* / ENTRA_* variables); the sandbox never runs beside a real tenant',
    );
  }
  const { replicaCount, redisUrl } = replicaOptions(opts);
  const port = opts.port ?? DEFAULT_PORT;
  const nextPort = (i: number) => (port === 0 ? 0 : port + i);
  const closers: (() => Promise<void>)[] = [];
  try {
    const handler: { fetch?: NodeHandler } = {};
    const bridge = await listen('127.0.0.1', port, (req, env) =>
      handler.fetch ? handler.fetch(req, env) : new Response('starting', { status: 503 }),
    );
    closers.push(bridge.close);
    const issuer = bridge.url;
    const audience = opts.overrides?.BRIDGE_AUDIENCE ?? issuer;

    // A test may run the sandbox in another cloud's name (ENTRA_TOKEN_EXCHANGE_AUDIENCE): the emulator and the FIC follow.
    const exchangeAudience = opts.overrides?.ENTRA_TOKEN_EXCHANGE_AUDIENCE;
    const tenant = sandboxTenant(issuer, exchangeAudience);
    const entra = await startEntraEmulator(
      {
        tenants: [opts.tenant ? opts.tenant(tenant) : tenant],
        allowInsecureLoopbackIssuer: true,
        ...(exchangeAudience ? { tokenExchangeAudience: exchangeAudience } : {}),
      },
      nextPort(1),
    );
    closers.push(() => entra.close());

    const platforms: SandboxPlatform[] = [];
    for (const [i, start] of SANDBOX_PLATFORMS.entries()) {
      const p = await start({
        issuer,
        audience,
        port: nextPort(platformPortOffset(i)),
        agentId: SANDBOX.agentId,
        resources: [SANDBOX.graph, SANDBOX.api],
        agentUsers: [SANDBOX.agentUser.upn, SANDBOX.agentUser.oid],
        ...(opts.env ? { env: opts.env } : {}),
      });
      platforms.push(p);
      closers.push(() => p.close());
    }

    // Replicas after the first listen on the ports that follow the emulators; all answer as one issuer.
    const handlers: { fetch?: NodeHandler }[] = [handler];
    const replicaUrls = [bridge.url];
    for (let i = 1; i < replicaCount; i++) {
      const h: { fetch?: NodeHandler } = {};
      const replica = await listen(
        '127.0.0.1',
        nextPort(platformPortOffset(SANDBOX_PLATFORMS.length) - 1 + i),
        (req, env) => (h.fetch ? h.fetch(req, env) : new Response('starting', { status: 503 })),
      );
      closers.push(replica.close);
      handlers.push(h);
      replicaUrls.push(replica.url);
    }

    let policy = sandboxPolicy(platforms);
    if (opts.policy) policy = opts.policy(policy);

    const env: Env = {
      BRIDGE_ISSUER: issuer,
      BRIDGE_SIGNING_KEY: await generateSigningKeyJwk(),
      BRIDGE_POLICY: JSON.stringify(policy),
      ENTRA_AUTHORITY_HOST: entra.url,
      // One sandbox's keys never meet another's in a shared Redis; its tokens are encrypted with a key of its own.
      ...(redisUrl
        ? {
            BRIDGE_REDIS_URL: redisUrl,
            BRIDGE_REDIS_KEY_PREFIX: `agent-id-bridge-sandbox:${randomBytes(6).toString('hex')}:`,
            BRIDGE_CACHE_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
          }
        : {}),
      ...(opts.liftLimits ? SANDBOX_LIFTED_LIMITS : {}),
      ...opts.overrides,
    };
    const config = loadConfig(env, { platforms: PLATFORMS, mode: 'sandbox' });
    const manifest: Record<string, unknown> = {
      sandbox: true,
      warning:
        'LOCAL SANDBOX: emulated Entra and platforms with fake credentials. Nothing here is a real tenant or a real token.',
      bridge: issuer,
      replicas: replicaUrls,
      store: config.redis ? 'redis' : 'memory',
      issuer,
      audience: config.audience,
      tenantId: SANDBOX.tenantId,
      blueprintId: SANDBOX.blueprintId,
      ficSubject: `agent-id-bridge:${SANDBOX.blueprintId}`,
      entra: {
        url: entra.url,
        tenantId: SANDBOX.tenantId,
        tokenEndpoint: `${entra.url}/${SANDBOX.tenantId}/oauth2/v2.0/token`,
        jwksUri: `${entra.url}/${SANDBOX.tenantId}/discovery/v2.0/keys`,
        // Validate sandbox tokens "the Microsoft way": discovery names the emulator's own jwks_uri,
        // while `issuer` (and tokens' iss) keep Entra's real shape.
        discovery: `${entra.url}/${SANDBOX.tenantId}/v2.0/.well-known/openid-configuration`,
        discoveryV1: `${entra.url}/${SANDBOX.tenantId}/.well-known/openid-configuration`,
        tokenExchangeAudience: config.entra.tokenExchangeAudience,
        humanUser: {
          username: SANDBOX.humanUser.upn,
          password: SANDBOX.humanUser.password,
          clientId: SANDBOX.clientAppId,
          scope: `api://${SANDBOX.blueprintId}/access_agent`,
        },
        agentUser: SANDBOX.agentUser,
      },
      // The sandbox API as a downstream service: its v2 tokens carry aud = clientId.
      api: { resource: SANDBOX.api, clientId: SANDBOX.apiAppId, tokenVersion: 2 },
      agents: [
        {
          id: SANDBOX.agentId,
          name: 'sandbox-agent-one',
          resources: [SANDBOX.graph, SANDBOX.api],
          modes: ['autonomous', 'obo', 'agent_user'],
        },
        {
          id: SANDBOX.otherAgentId,
          name: 'sandbox-agent-two',
          resources: [],
          modes: [],
          note: 'no sandbox workload may act as this agent',
        },
      ],
      ...Object.fromEntries(platforms.flatMap((p) => Object.entries(p.manifestSections ?? { [p.name]: p.manifest }))),
    };
    let deps: AppDeps | undefined;
    const readiness: (() => boolean)[] = [];
    for (const h of handlers) {
      // Each replica has its own metrics (GET /metrics) and readiness (GET /readyz), like a real process.
      const ports = nodePorts({
        ...(opts.entraTransport === 'fetch' ? { entraTransport: createFetchTransport } : {}),
        ...(opts.audit ? { audit: opts.audit } : {}),
        ...(opts.sleep ? { sleep: opts.sleep } : {}),
        ...(opts.clock ? { clock: opts.clock } : {}),
        sandboxManifest: () => manifest,
        clientOrigin: nodeClientOrigin(config.node.trustedProxyHops),
        readiness: new Readiness(),
      });
      const redis = await redisPorts(config, {
        ...(opts.clock ? { clock: opts.clock } : {}),
        ...(ports.metrics ? { metrics: ports.metrics } : {}),
      });
      if (redis) {
        closers.push(redis.stores.close);
        readiness.push(redis.stores.ready);
        ports.readiness!.add('redis', redis.stores.ready);
      }
      const built = await buildApp(config, {
        ...ports,
        ...redis?.ports,
        ...(opts.replay ? { replay: opts.replay } : {}),
      });
      deps ??= built.deps;
      h.fetch = (req, env) => built.app.fetch(req, env);
    }
    const bannerLines = [
      '',
      '  ==========================================================================',
      '   agent-id-bridge  LOCAL SANDBOX  (emulated Entra and platforms; loopback only)',
      '   Nothing here touches a real tenant. Set BRIDGE_* variables to run for real.',
      '  ==========================================================================',
      `   bridge          ${issuer}   (manifest: ${issuer}/_sandbox)`,
      ...replicaUrls.slice(1).map((u, i) => `   replica ${i + 2}       ${u}`),
      ...(config.redis
        ? [`   store           redis (${replicaUrls.length} replica${replicaUrls.length === 1 ? '' : 's'} share it)`]
        : []),
      `   Entra emulator  ${entra.url}   tenant ${SANDBOX.tenantId}`,
      ...platforms.flatMap((p) => p.banner),
      '',
    ];
    return {
      url: issuer,
      manifest,
      entra,
      gcp: platforms.find((p) => p.name === 'gcp') as GcpSandboxPlatform,
      platforms,
      deps: deps!,
      replicas: replicaUrls,
      store: config.redis ? 'redis' : 'memory',
      storeReady: () => readiness.every((ready) => ready()),
      banner: bannerLines,
      close: async () => {
        await Promise.all(closers.map((c) => c().catch(() => {})));
      },
    };
  } catch (e) {
    await Promise.all(closers.map((c) => c().catch(() => {})));
    throw e;
  }
}

/**
 * SANDBOX_REPLICAS (default 1) and SANDBOX_REDIS_URL, or the same as options. More than one replica
 * without Redis is refused: in-process replay stores and rate limits cannot be shared.
 */
function replicaOptions(opts: SandboxOptions): { replicaCount: number; redisUrl: string | undefined } {
  const rawCount = opts.replicas ?? opts.env?.SANDBOX_REPLICAS ?? 1;
  const replicaCount = Number(rawCount);
  if (!Number.isInteger(replicaCount) || replicaCount < 1 || replicaCount > MAX_SANDBOX_REPLICAS) {
    throw new Error(`SANDBOX_REPLICAS: must be an integer from 1 to ${MAX_SANDBOX_REPLICAS}`);
  }
  const redisUrl = opts.redisUrl ?? (opts.env?.SANDBOX_REDIS_URL?.trim() || undefined);
  if (replicaCount > 1 && redisUrl === undefined) {
    throw new Error(
      `SANDBOX_REPLICAS=${replicaCount} needs SANDBOX_REDIS_URL: replicas share the replay store, rate limits and token cache through Redis. ` +
        `Start one (redis-server --port 6379 --save '') and set SANDBOX_REDIS_URL=redis://127.0.0.1:6379, or set SANDBOX_REPLICAS=1.`,
    );
  }
  if (redisUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(redisUrl);
    } catch {
      url = undefined;
    }
    if (!url || !isLoopbackHost(url))
      throw new Error(
        'SANDBOX_REDIS_URL: must be a redis:// URL on a loopback host (the sandbox stays on this machine)',
      );
  }
  return { replicaCount, redisUrl };
}

/** Enough to show replicas sharing one Redis; each replica is a whole bridge in this process. */
const MAX_SANDBOX_REPLICAS = 16;

/** The sandbox policy: the sandbox tenant and blueprint, each platform's section and rules. */
export function sandboxPolicy(platforms: readonly SandboxPlatform[]): SandboxPolicy {
  return {
    version: 1,
    tenants: [
      {
        tenantId: SANDBOX.tenantId,
        name: 'sandbox',
        blueprints: [
          {
            appId: SANDBOX.blueprintId,
            agents: [
              { id: SANDBOX.agentId, name: 'sandbox-agent-one' },
              { id: SANDBOX.otherAgentId, name: 'sandbox-agent-two' },
            ],
          },
        ],
      },
    ],
    platforms: Object.fromEntries(platforms.map((p) => [p.name, p.platformConfig])),
    rules: platforms.flatMap((p) => p.rules),
  };
}

export function banner(s: Sandbox): string {
  return s.banner.join('\n');
}
