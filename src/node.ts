/**
 * Node entry: `npm start`. With configuration (any BRIDGE_* variable), runs the bridge as
 * configured. With none, starts the local sandbox (bridge + emulators on loopback) — and never
 * the other way round: a configured tenant is never mixed with the emulators (docs/architecture.md#configuration-and-the-sandbox).
 */
import { readFileSync } from 'node:fs';
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
import { createRedisStores, type RedisStores } from './store/redis/index.ts';
import { stdoutLineWriter } from './audit/line-writer.ts';

export const nodePorts = (extra: Partial<RuntimePorts> = {}): RuntimePorts => ({ entraTransport: createMsalTransport, auditLine: (line) => stdoutLineWriter().write(line), ...extra });

export interface RunningServer {
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
export async function listen(host: string, port: number, handler: NodeHandler, opts: ListenOptions = {}): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    let server: ServerType;
    try {
      const serverOptions = { headersTimeout: NODE_HEADERS_TIMEOUT_MS, requestTimeout: NODE_REQUEST_TIMEOUT_MS, connectionsCheckingInterval: NODE_TIMEOUT_CHECK_INTERVAL_MS };
      server = serve({ fetch: (req, env) => closeIfBodyUnread(handler, req, env as NodeBindings), hostname: host, port, serverOptions }, (info) => {
        resolve({
          url: `http://${host.includes(':') ? `[${host}]` : host}:${info.port}`,
          port: info.port,
          server,
          close: () => new Promise((r) => server.close(() => r())),
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
export async function redisPorts(config: Config, opts: { clock?: () => number; log?: (message: string) => void } = {}): Promise<{ ports: Partial<RuntimePorts>; stores: RedisStores } | undefined> {
  if (!config.redis) return undefined;
  const log = opts.log ?? ((m: string) => console.error(`agent-id-bridge: ${m}`));
  const stores = createRedisStores(config.redis, {
    clock: opts.clock ?? (() => Math.floor(Date.now() / 1000)),
    rateLimitPerMinute: config.rateLimitPerMinute,
    rateLimitMaxKeys: config.admission.maxKeys,
    replayQuotaPerIssuer: config.replayQuotaPerIssuer,
    log,
  });
  if (!(await stores.waitReady())) log('redis not reachable at startup; serving anyway, single-use proofs answer 503 until it is');
  return { ports: { replay: stores.replay, rateLimiter: stores.rateLimiter, ...(stores.sharedTokens ? { sharedTokenCache: stores.sharedTokens } : {}) }, stores };
}

export async function startBridge(config: Config, ports: RuntimePorts = nodePorts()): Promise<RunningServer & { deps: AppDeps }> {
  const redis = await redisPorts(config, ports.clock ? { clock: ports.clock } : {});
  try {
    const { app, deps } = await buildApp(config, { clientOrigin: nodeClientOrigin(config.node.trustedProxyHops), ...redis?.ports, ...ports });
    const server = await listen(config.listen.host, config.listen.port, (req, env) => app.fetch(req, env), { maxConnections: config.node.maxConnections });
    if (!redis) return { ...server, deps };
    return { ...server, deps, redis: redis.stores, close: () => server.close().finally(() => redis.stores.close()) };
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

async function main(): Promise<void> {
  if (!isConfigured(process.env)) {
    const sandboxModule = '../sandbox/sandbox.ts';
    let sandbox: typeof import('../sandbox/sandbox.ts');
    try {
      sandbox = await import(sandboxModule);
    } catch {
      console.error('agent-id-bridge: no configuration (BRIDGE_ISSUER, BRIDGE_SIGNING_KEY, BRIDGE_POLICY_FILE) and no sandbox in this build.');
      process.exit(2);
    }
    const port = Number(process.env.PORT ?? DEFAULT_PORT);
    const running = await sandbox.startSandbox({ port, env: process.env });
    console.log(sandbox.banner(running));
    const stop = () => void running.close().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    return;
  }
  let config: Config;
  try {
    config = loadConfig(process.env, { platforms: PLATFORMS, readFile: (p) => readFileSync(p, 'utf8') });
  } catch (e) {
    if (e instanceof ConfigError) {
      const hint = sandboxSkippedHint(process.env);
      console.error(`agent-id-bridge: ${hint === undefined ? '' : `${hint}\n`}${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  const server = await startBridge(config);
  console.log(`agent-id-bridge listening on ${server.url} as issuer ${config.issuer}`);
  watchPolicy(config, server.deps);
  const stop = () => void server.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** The kill switch on Node: reload the policy file on SIGHUP and on change (src/policy/reload.ts). */
function watchPolicy(config: Config, deps: AppDeps): void {
  const file = process.env[ENV.policyFile]?.trim();
  if (file) reloadPolicyFile({ file, platforms: PLATFORMS, runtime: { allowInsecureLoopback: config.allowInsecureLoopback }, target: deps, loadedPlatforms: config.platforms });
  // SIGHUP would otherwise end the process: an inline policy has nothing to reload.
  else process.on('SIGHUP', () => console.error(JSON.stringify({ type: 'policy_reload', trigger: 'SIGHUP', outcome: 'unchanged', note: `${ENV.policy} is inline: restart to change it` })));
}

if (import.meta.main) {
  main().catch((e: unknown) => {
    console.error(`agent-id-bridge: failed to start: ${(e as Error).message}`);
    process.exit(1);
  });
}
