/**
 * Cloudflare Workers entry (a runtime adapter, like src/node.ts: docs/architecture.md#code-layout). Builds the
 * app once per isolate from `env` (vars and secrets) with the Workers ports: the plain-fetch Entra
 * transport, Durable Object replay store and rate limiter, audit as console.log JSON lines (Workers
 * Logs). A configuration problem fails closed: it is logged once, and every request is answered
 * 500 `server_error` without detail until the configuration is fixed.
 */
import { buildApp } from './compose.ts';
import { ConfigError, loadConfig, type Env } from './config/config.ts';
import { NO_STORE } from './http.ts';
import { PLATFORMS } from './platforms.ts';
import { createFetchTransport } from './entra/transport-fetch.ts';
import { scrubSecrets } from './audit/audit.ts';
import { KeyConfigError } from './issuer/keys.ts';
import { isLoopbackHost } from './net/loopback.ts';
import { DurableRateLimiter, DurableReplayStore } from './store/durable/stores.ts';
import type { RateLimitCounter } from './store/durable/rate-limit-counter.ts';
import type { ReplayGuard } from './store/durable/replay-guard.ts';
import { DurableDenyList, type KillSwitch } from './store/durable/kill-switch.ts';
import { ADMIN_DENY_PATH, createDenyEndpoint } from './admin/deny-endpoint.ts';
import { ADMIN_TOKEN_MIN_CHARS } from './constants.ts';

export { RateLimitCounter } from './store/durable/rate-limit-counter.ts';
export { ReplayGuard } from './store/durable/replay-guard.ts';
export { KillSwitch } from './store/durable/kill-switch.ts';

/** Bindings (wrangler.toml) plus the BRIDGE_* / ENTRA_* vars and secrets of src/config/config.ts. */
export interface WorkerEnv {
  REPLAY: DurableObjectNamespace<ReplayGuard>;
  RATE_LIMIT: DurableObjectNamespace<RateLimitCounter>;
  /** The run-time deny list (kill switch); used when BRIDGE_ADMIN_TOKEN is set. */
  DENY_LIST?: DurableObjectNamespace<KillSwitch>;
  /** "sandbox" only for local runs against the emulators (wrangler dev, tests): allows http to loopback. */
  BRIDGE_MODE?: string;
  [variable: string]: unknown;
}

export type BridgeHandler = (request: Request) => Promise<Response>;

/** Options that hold a secret or the policy: set with `wrangler secret put`, never as [vars]. */
export const SECRET_OPTIONS = [
  'BRIDGE_SIGNING_KEY',
  'BRIDGE_NEXT_SIGNING_KEY',
  'BRIDGE_POLICY',
  'BRIDGE_ADMIN_TOKEN',
] as const;

/** What .dev.vars.example and the README put where a real value must go. */
const PLACEHOLDER = /\b(?:REPLACE[_-]?ME|CHANGE[_-]?ME)\b|^\s*(?:placeholder|todo|x{3,}|\.\.\.)\s*$/i;
/** RFC 2606 / RFC 6761 names: the README's bridge.example.com is an example, never an issuer. */
const EXAMPLE_HOST = /(?:^|\.)(?:example\.(?:com|net|org)|example|invalid|test)$/i;

/** Build the bridge for this env; tests call it directly to get independent "isolates". */
export async function createBridgeHandler(env: WorkerEnv): Promise<BridgeHandler> {
  try {
    const vars = stringVars(env);
    const mode = env.BRIDGE_MODE === 'sandbox' ? 'sandbox' : 'production';
    const problems = checkWorkerEnv(env, vars, mode);
    let config;
    try {
      config = loadConfig(vars, { platforms: PLATFORMS, mode });
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problems.push(...e.problems);
    }
    if (problems.length > 0 || !config) throw new ConfigError(problems);
    const clock = () => Math.floor(Date.now() / 1000);
    // The kill switch's run-time list exists only with an operator credential to set it.
    const adminToken = vars.BRIDGE_ADMIN_TOKEN?.trim() || undefined;
    const denyList = adminToken !== undefined && env.DENY_LIST ? new DurableDenyList(env.DENY_LIST) : undefined;
    const admin =
      adminToken !== undefined && denyList
        ? createDenyEndpoint({ token: adminToken, store: denyList, platforms: PLATFORMS })
        : undefined;
    const { app } = await buildApp(config, {
      entraTransport: createFetchTransport,
      clock,
      replay: new DurableReplayStore(env.REPLAY, clock, config.replayQuotaPerIssuer),
      rateLimiter: new DurableRateLimiter(env.RATE_LIMIT, config.rateLimitPerMinute, clock),
      logError: (message) => console.error(JSON.stringify({ type: 'error', message })),
      // Set by Cloudflare's edge, which overwrites any value a client sends (src/limits/client-address.ts).
      clientOrigin: (req) => ({ address: req.headers.get('cf-connecting-ip') ?? undefined }),
      ...(denyList ? { runtimeDeny: denyList } : {}),
    });
    return async (request) =>
      admin && new URL(request.url).pathname === ADMIN_DENY_PATH ? admin(request) : app.fetch(request);
  } catch (e) {
    console.error(JSON.stringify({ type: 'config_error', problems: describeFailure(e) }));
    return async () => misconfigured();
  }
}

let bridge: Promise<BridgeHandler> | undefined;

export default {
  async fetch(request, env) {
    // Bindings are fixed for the life of an isolate: build once, on the first request.
    bridge ??= createBridgeHandler(env);
    return (await bridge)(request);
  },
} satisfies ExportedHandler<WorkerEnv>;

function stringVars(env: WorkerEnv): Env {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** Checks only a Worker needs: bindings present, no placeholder left, sandbox mode kept local. */
function checkWorkerEnv(env: WorkerEnv, vars: Env, mode: 'production' | 'sandbox'): string[] {
  const problems: string[] = [];
  for (const binding of ['REPLAY', 'RATE_LIMIT'] as const) {
    if (typeof (env[binding] as { getByName?: unknown } | undefined)?.getByName !== 'function') {
      problems.push(`${binding}: Durable Object binding missing (see [[durable_objects.bindings]] in wrangler.toml)`);
    }
  }
  for (const [name, value] of Object.entries(vars)) {
    if (/^(?:BRIDGE|ENTRA)_/.test(name) && value !== undefined && PLACEHOLDER.test(value)) {
      const how = (SECRET_OPTIONS as readonly string[]).includes(name)
        ? `wrangler secret put ${name}`
        : `[vars] in wrangler.toml`;
      problems.push(`${name}: still a placeholder; set the real value (${how})`);
    }
  }
  // Redis is the Node replicas' store (docs/redis.md); here the same state is in Durable Objects.
  for (const name of [
    'BRIDGE_REDIS_URL',
    'BRIDGE_REDIS_KEY_PREFIX',
    'BRIDGE_SHARED_TOKEN_CACHE',
    'BRIDGE_CACHE_ENCRYPTION_KEY',
  ]) {
    if ((vars[name] ?? '') !== '')
      problems.push(
        `${name}: Node only; on Workers the replay store and rate limits are Durable Objects (docs/workers.md); remove it`,
      );
  }
  const adminToken = vars.BRIDGE_ADMIN_TOKEN?.trim();
  if (adminToken) {
    if (adminToken.length < ADMIN_TOKEN_MIN_CHARS)
      problems.push(`BRIDGE_ADMIN_TOKEN: at least ${ADMIN_TOKEN_MIN_CHARS} characters (e.g. openssl rand -base64 32)`);
    if (typeof (env.DENY_LIST as { getByName?: unknown } | undefined)?.getByName !== 'function')
      problems.push(
        'DENY_LIST: Durable Object binding missing; BRIDGE_ADMIN_TOKEN needs it (see [[durable_objects.bindings]] in wrangler.toml)',
      );
  }
  const issuer = vars.BRIDGE_ISSUER;
  const host = issuer && URL.canParse(issuer) ? new URL(issuer) : undefined;
  if (host && mode === 'production' && EXAMPLE_HOST.test(host.hostname)) {
    problems.push(`BRIDGE_ISSUER: ${host.hostname} is an example name; use the custom domain that serves this Worker`);
  }
  if (mode === 'sandbox' && host && !isLoopbackHost(host)) {
    problems.push(
      'BRIDGE_MODE: "sandbox" is for local runs against the emulators only (BRIDGE_ISSUER must be a loopback URL)',
    );
  }
  return problems;
}

/** Problem lines for the log: option names and reasons, never a value. */
function describeFailure(e: unknown): string[] {
  if (e instanceof ConfigError) return e.problems;
  // KeyConfigError names the option.
  if (e instanceof KeyConfigError) return [scrubSecrets(e.message)];
  return [scrubSecrets(e instanceof Error ? `${e.name}: ${e.message}` : String(e))];
}

function misconfigured(): Response {
  return Response.json(
    {
      error: 'server_error',
      error_description: 'The bridge is not configured correctly; the operator must check its logs.',
    },
    { status: 500, headers: NO_STORE },
  );
}
