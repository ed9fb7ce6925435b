/**
 * Node entry: `npm start` (the sources) and `node dist/agent-id-bridge.mjs` (the release build,
 * scripts/build.ts). With configuration (any BRIDGE_* variable), runs the bridge as configured.
 * With none, starts the local sandbox (bridge + emulators on loopback) — and never the other way
 * round: a configured tenant is never mixed with the emulators (docs/architecture.md#configuration-and-the-sandbox).
 * Logs, metrics and shutdown: docs/operations.md.
 */
// First: refuses an unsupported Node.js before anything else runs.
import './node/require-node.ts';
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { AppDeps } from './app.ts';
import { ENV, isConfigured, loadConfig, sandboxSkippedHint, ConfigError, type Config } from './config/config.ts';
import { buildApp, type RuntimePorts } from './compose.ts';
import { reloadPolicyFile } from './policy/reload.ts';
import {
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_PORT,
  LINGER_CLOSE_MAX_BYTES,
  LINGER_CLOSE_MS,
  NODE_HEADERS_TIMEOUT_MS,
  NODE_REQUEST_TIMEOUT_MS,
  NODE_TIMEOUT_CHECK_INTERVAL_MS,
} from './constants.ts';
import { PLATFORMS } from './platforms.ts';
import { createMsalTransport } from './entra/transport-msal.ts';
import type { RequestOrigin } from './limits/admission.ts';
import { forwardedClientAddress } from './limits/client-address.ts';
import { createRedisStores, type RedisStoreStats, type RedisStores } from './store/redis/index.ts';
import { stdoutLineWriter } from './audit/line-writer.ts';
import { discardAudit, scrubSecrets } from './audit/audit.ts';
import { Readiness } from './lifecycle/readiness.ts';
import type { BridgeMetrics } from './metrics/port.ts';
import { createPrometheusMetrics } from './metrics/prometheus.ts';
import { createLogger, loggerAuditSink, type BridgeLogger } from './node/logger.ts';
import { nodeOptions, type NodeOptions } from './node/options.ts';
import { installShutdown, type Drainable } from './node/shutdown.ts';
import { BUILD_INFO } from './version.ts';

/**
 * The Node runtime's ports: msal-node for Entra, audit lines through the buffered stdout writer, and
 * Prometheus metrics served at GET /metrics on the bridge's listener unless `extra` says otherwise
 * (process metrics only for the real entry).
 */
export const nodePorts = (extra: Partial<RuntimePorts> = {}): RuntimePorts => {
  const base = { entraTransport: createMsalTransport, auditLine: (line: string) => stdoutLineWriter().write(line) };
  if (extra.metrics) return { ...base, ...extra };
  const prometheus = createPrometheusMetrics(BUILD_INFO, { processMetrics: false });
  return { ...base, metrics: prometheus.metrics, metricsEndpoint: prometheus.scrape, ...extra };
};

export interface RunningServer extends Drainable {
  url: string;
  port: number;
  /** The Node server (its timeouts and connection cap are set by listen()). */
  server: ServerType;
  /** The Redis stores when BRIDGE_REDIS_URL is set (their ready() is for /readyz). */
  redis?: RedisStores;
  close(): Promise<void>;
}

/** What @hono/node-server passes to the app as `env`: the Node request and response. */
export interface NodeBindings {
  incoming: IncomingMessage;
  outgoing: ServerResponse;
}

export type NodeHandler = (req: Request, env: NodeBindings) => Response | Promise<Response>;

export interface ListenOptions {
  /** Open connections accepted at once (server.maxConnections). */
  maxConnections?: number;
}

/**
 * The client address on Node: the socket's peer, or with trusted proxies in front the address the
 * outermost of them saw (src/limits/client-address.ts; BRIDGE_TRUSTED_PROXY_HOPS).
 */
export function nodeClientOrigin(trustedProxyHops: number): (req: Request, env: unknown) => RequestOrigin {
  return (req, env) => {
    const peer = (env as Partial<NodeBindings> | undefined)?.incoming?.socket?.remoteAddress;
    return { address: forwardedClientAddress(peer, req.headers.get('x-forwarded-for'), trustedProxyHops) };
  };
}

/**
 * Listen on host:port; the handler may be set after the port is known (the sandbox needs that).
 * Every phase of reading a request has a deadline and open connections are capped, so slowly sent
 * requests cannot hold the process's descriptors (constants.ts explains each number).
 */
export async function listen(
  host: string,
  port: number,
  handler: NodeHandler,
  opts: ListenOptions = {},
): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    let server: ServerType;
    let draining = false;
    const close = () => new Promise<void>((r) => server.close(() => r()));
    try {
      const serverOptions = {
        headersTimeout: NODE_HEADERS_TIMEOUT_MS,
        requestTimeout: NODE_REQUEST_TIMEOUT_MS,
        connectionsCheckingInterval: NODE_TIMEOUT_CHECK_INTERVAL_MS,
      };
      const fetch = async (req: Request, env: unknown) => {
        const res = await closeIfBodyUnread(handler, req, env as NodeBindings);
        // While draining, a connection carries no further request (src/node/shutdown.ts).
        if (draining) res.headers.set('connection', 'close');
        return res;
      };
      server = serve({ fetch, hostname: host, port, serverOptions }, (info) => {
        resolve({
          url: `http://${host.includes(':') ? `[${host}]` : host}:${info.port}`,
          port: info.port,
          server,
          close,
          drain: () => {
            draining = true;
            return close();
          },
          closeAll: () => (server as unknown as { closeAllConnections(): void }).closeAllConnections(),
        });
      });
      server.maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
      server.on('error', reject);
    } catch (e) {
      reject(e);
    }
  });
}

/**
 * With BRIDGE_REDIS_URL: the replay store, rate limiter and shared token cache on Redis, shared by
 * every replica (docs/redis.md). Startup waits briefly for the first connection and then serves
 * either way: until Redis answers, single-use proofs get 503 and everything else works.
 */
export async function redisPorts(
  config: Config,
  opts: { clock?: () => number; log?: (message: string) => void; metrics?: BridgeMetrics } = {},
): Promise<{ ports: Partial<RuntimePorts>; stores: RedisStores } | undefined> {
  if (!config.redis) return undefined;
  const log =
    opts.log ??
    ((m: string) =>
      console.error(JSON.stringify({ level: 'warn', time: new Date().toISOString(), type: 'store', msg: m })));
  const stores = createRedisStores(config.redis, {
    clock: opts.clock ?? (() => Math.floor(Date.now() / 1000)),
    rateLimitPerMinute: config.rateLimitPerMinute,
    rateLimitMaxKeys: config.admission.maxKeys,
    replayQuotaPerIssuer: config.replayQuotaPerIssuer,
    log,
    ...(opts.metrics
      ? { onConnectionError: () => opts.metrics!.storeError({ store: 'redis', condition: 'connection_error' }) }
      : {}),
  });
  opts.metrics?.registerStoreEvents('redis', () => redisEvents(stores.stats()));
  const { sharedProofs } = stores;
  if (sharedProofs) opts.metrics?.registerCache('verified_proof_shared', () => sharedProofs.cacheStats());
  if (!(await stores.waitReady()))
    log('redis not reachable at startup; serving anyway, single-use proofs answer 503 until it is');
  return {
    ports: {
      replay: stores.replay,
      rateLimiter: stores.rateLimiter,
      ...(stores.sharedTokens ? { sharedTokenCache: stores.sharedTokens } : {}),
      ...(stores.sharedProofs ? { sharedVerifiedProofs: stores.sharedProofs } : {}),
    },
    stores,
  };
}

/** The Redis stores' counters as metric events (docs/operations.md, metrics). */
function redisEvents(s: RedisStoreStats): Record<string, number> {
  const c = s.sharedCache;
  const p = s.sharedProofs;
  return {
    replay_errors: s.replayErrors,
    rate_limit_fallbacks: s.rateLimitFallbacks,
    ...(c
      ? {
          shared_cache_hits: c.hits,
          shared_cache_fetches: c.fetches,
          shared_cache_wait_timeouts: c.waitTimeouts,
          shared_cache_errors: c.errors,
          shared_cache_undecryptable: c.undecryptable,
        }
      : {}),
    ...(p ? { proof_cache_errors: p.errors, proof_cache_undecryptable: p.undecryptable } : {}),
  };
}

/** `log` takes the process's operational messages (a Redis outage and its recovery). */
export async function startBridge(
  config: Config,
  ports: RuntimePorts = nodePorts(),
  opts: { log?: (message: string) => void } = {},
): Promise<RunningServer & { deps: AppDeps }> {
  const redis = await redisPorts(config, {
    ...(ports.clock ? { clock: ports.clock } : {}),
    ...(opts.log ? { log: opts.log } : {}),
    ...(ports.metrics ? { metrics: ports.metrics } : {}),
  });
  try {
    // A configured Redis is something this process needs to answer single-use proofs: /readyz says whether it has it.
    const readiness = ports.readiness ?? new Readiness();
    if (redis) readiness.add('redis', redis.stores.ready);
    const { app, deps } = await buildApp(config, {
      clientOrigin: nodeClientOrigin(config.node.trustedProxyHops),
      ...redis?.ports,
      ...ports,
      readiness,
    });
    const server = await listen(config.listen.host, config.listen.port, (req, env) => app.fetch(req, env), {
      maxConnections: config.node.maxConnections,
    });
    if (!redis) return { ...server, deps };
    const closeRedis = () => redis.stores.close();
    return {
      ...server,
      deps,
      redis: redis.stores,
      close: () => server.close().finally(closeRedis),
      drain: () => server.drain().finally(closeRedis),
    };
  } catch (e) {
    await redis?.stores.close();
    throw e;
  }
}

/**
 * A request answered before its body was read to the end (413, 408) leaves the rest of the body on
 * the connection, so the connection cannot carry another request: the answer says
 * `Connection: close`, and the connection is closed in stages (RFC 9112 §9.6): the answer and a
 * FIN go out, what the client still sends is read and discarded for a bounded time, then the socket
 * is closed. Closing at once would make the kernel answer the client's next bytes with a reset,
 * which can destroy the answer before the client reads it.
 */
async function closeIfBodyUnread(handler: NodeHandler, req: Request, env: NodeBindings): Promise<Response> {
  const res = await handler(req, env);
  const incoming = env?.incoming;
  if (incoming && !incoming.complete && req.method !== 'GET' && req.method !== 'HEAD') {
    res.headers.set('connection', 'close');
    lingerOnClose(incoming.socket);
  }
  return res;
}

/** Node ends a `Connection: close` answer with socket.destroySoon(); make that a staged close. */
function lingerOnClose(socket: Socket): void {
  let closing = false;
  socket.destroySoon = function stagedClose(this: Socket): void {
    if (closing || this.destroyed) return;
    closing = true;
    if (this.writable) this.end();
    const timer = setTimeout(() => this.destroy(), LINGER_CLOSE_MS);
    timer.unref();
    let discarded = 0;
    this.on('data', (chunk: Buffer) => {
      discarded += chunk.byteLength;
      if (discarded > LINGER_CLOSE_MAX_BYTES) this.destroy();
    });
    this.once('end', () => this.destroy());
    this.once('close', () => clearTimeout(timer));
    this.resume();
  };
}

/** GET /metrics on a listener of its own (BRIDGE_METRICS_LISTEN), nothing else. */
function metricsOnly(scrape: () => Promise<Response>): NodeHandler {
  return (req) =>
    req.method === 'GET' && new URL(req.url).pathname === '/metrics'
      ? scrape()
      : Response.json({ error: 'not_found', error_description: 'No such route.' }, { status: 404 });
}

declare const __BRIDGE_BUNDLED__: boolean | undefined;

async function runSandbox(logger: BridgeLogger, options: NodeOptions): Promise<void> {
  const noSandbox = () => {
    logger.fatal(
      { type: 'startup' },
      'agent-id-bridge: no configuration (BRIDGE_ISSUER, BRIDGE_SIGNING_KEY or BRIDGE_SIGNING_KEY_FILE, BRIDGE_POLICY_FILE) and no sandbox in this build; the sandbox runs from the sources (npm start).',
    );
    process.exit(2);
  };
  // The release build carries no emulators (scripts/build.ts).
  if (typeof __BRIDGE_BUNDLED__ === 'boolean' && __BRIDGE_BUNDLED__) return noSandbox();
  const sandboxModule = '../sandbox/sandbox.ts';
  let sandbox: typeof import('../sandbox/sandbox.ts');
  try {
    sandbox = await import(sandboxModule);
  } catch {
    return noSandbox();
  }
  const port = Number(process.env.PORT ?? DEFAULT_PORT);
  const running = await sandbox.startSandbox({ port, env: process.env, audit: loggerAuditSink(logger) });
  logger.info(
    {
      type: 'lifecycle',
      event: 'listening',
      url: running.url,
      sandbox: `${running.url}/_sandbox`,
      version: BUILD_INFO.version,
      commit: BUILD_INFO.commit,
    },
    'LOCAL SANDBOX listening',
  );
  // The banner is for a person at a terminal; logs stay JSON lines.
  if (process.stderr.isTTY) process.stderr.write(`${sandbox.banner(running)}\n`);
  installShutdown({
    readiness: running.deps.readiness!,
    servers: [{ drain: () => running.close(), closeAll: () => {} }],
    graceMs: options.shutdownGraceMs,
    logger,
  });
}

async function main(): Promise<void> {
  // stdout through the process's one buffered writer, which the audit lines share (src/audit/line-writer.ts).
  const logger = createLogger({ stdout: stdoutLineWriter() });
  const { options, problems } = nodeOptions(process.env);
  if (problems.length > 0) {
    logger.fatal({ type: 'config_error', problems }, `agent-id-bridge: invalid configuration: ${problems.join('; ')}`);
    process.exit(2);
  }
  if (!isConfigured(process.env)) return runSandbox(logger, options);
  let config: Config;
  try {
    config = loadConfig(process.env, { platforms: PLATFORMS, readFile: (p) => readFileSync(p, 'utf8') });
  } catch (e) {
    if (e instanceof ConfigError) {
      const hint = sandboxSkippedHint(process.env);
      logger.fatal(
        { type: 'config_error', problems: e.problems, ...(hint === undefined ? {} : { hint }) },
        `agent-id-bridge: ${hint === undefined ? '' : `${hint}\n`}${e.message}`,
      );
      process.exit(2);
    }
    throw e;
  }
  const prometheus = createPrometheusMetrics(BUILD_INFO);
  const readiness = new Readiness();
  const server = await startBridge(
    config,
    nodePorts({
      metrics: prometheus.metrics,
      ...(options.metrics.where === 'main' ? { metricsEndpoint: prometheus.scrape } : {}),
      readiness,
      audit: config.audit === 'off' ? discardAudit : loggerAuditSink(logger),
      logError: (message) => logger.error({ type: 'error' }, message),
    }),
    { log: (message) => logger.warn({ type: 'store' }, message) },
  );
  const servers: RunningServer[] = [server];
  if (options.metrics.where === 'listen')
    servers.push(await listen(options.metrics.host, options.metrics.port, metricsOnly(prometheus.scrape)));
  const metricsUrl = options.metrics.where === 'off' ? 'off' : `${servers.at(-1)!.url}/metrics`;
  logger.info(
    {
      type: 'lifecycle',
      event: 'listening',
      url: server.url,
      issuer: config.issuer,
      metrics: metricsUrl,
      version: BUILD_INFO.version,
      commit: BUILD_INFO.commit,
    },
    `agent-id-bridge listening on ${server.url}`,
  );
  watchPolicy(config, server.deps, logger);
  installShutdown({ readiness, servers, graceMs: options.shutdownGraceMs, logger });
}

/** The kill switch on Node: reload the policy file on SIGHUP and on change (src/policy/reload.ts). */
function watchPolicy(config: Config, deps: AppDeps, logger: BridgeLogger): void {
  const file = process.env[ENV.policyFile]?.trim();
  const log = (line: Record<string, unknown>) => logger.info(line);
  if (file)
    reloadPolicyFile({
      file,
      platforms: PLATFORMS,
      runtime: { allowInsecureLoopback: config.allowInsecureLoopback },
      target: deps,
      loadedPlatforms: config.platforms,
      log,
    });
  // SIGHUP would otherwise end the process: an inline policy has nothing to reload.
  else
    process.on('SIGHUP', () =>
      log({
        type: 'policy_reload',
        trigger: 'SIGHUP',
        outcome: 'unchanged',
        note: `${ENV.policy} is inline: restart to change it`,
      }),
    );
}

/**
 * Whether this module is the process's entry point: `node src/node.ts`, or the release build, into
 * which this module is bundled. (import.meta.main exists only from Node.js 22.18 and 24.2.)
 */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main().catch((e: unknown) => {
    process.stderr.write(
      `${JSON.stringify({ level: 'fatal', time: new Date().toISOString(), type: 'startup', msg: `agent-id-bridge: failed to start: ${scrubSecrets((e as Error).message)}` })}\n`,
    );
    process.exit(1);
  });
}
