/**
 * The sidecar's HTTP surface: Microsoft's Entra Auth SDK sidecar API (GET /healthz,
 * GET /AuthorizationHeaderUnauthenticated/{serviceName}, GET /AuthorizationHeader/{serviceName};
 * https://learn.microsoft.com/en-us/entra/msidweb/agent-id-sdk/endpoints) answered with agent tokens
 * from agent-id-bridge. Like Microsoft's sidecar it answers loopback callers only (its
 * LocalCallerRestriction: /healthz excepted, for probes) and marks every answer no-store; unlike it,
 * it also refuses a Host header that is not a loopback name, so a web page cannot reach it through
 * DNS rebinding. One log line per request, never with a token, a query string or a user name.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  BridgeExchangeError,
  createAgentTokenSource,
  type AgentToken,
  type AgentTokenSource,
  type Proof,
} from '../../client/src/index.ts';
import { defaultsFor, type SidecarConfig } from './config.ts';
import { BLUEPRINT_SERVICE_NAME, BRIDGE_TIMEOUT_MS, DEFAULT_RETRY_AFTER_SEC, HEALTH_CACHE_MS } from './constants.ts';
import { SidecarProblem } from './problem.ts';
import { describeProof } from './proof.ts';
import { parseQuery, planExchange, type ExchangePlan, type Route } from './request.ts';

export interface SidecarRequest {
  method: string;
  /** Path and query, as on the request line. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** The peer's address (IPv4, IPv6, or IPv4-mapped IPv6). */
  remoteAddress: string | undefined;
}

export interface SidecarResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type LogLine = Record<string, string | number | boolean | undefined>;

export interface SidecarDeps {
  proof: () => Promise<Proof>;
  fetch?: typeof fetch;
  log?: (line: LogLine) => void;
  now?: () => number;
}

export type SidecarHandler = ((req: SidecarRequest) => Promise<SidecarResponse>) & {
  readonly tokens: AgentTokenSource;
};

/** The service names Microsoft's clients use unless configured otherwise (sidecarModels.ts). */
const KNOWN_SERVICE_NAMES: ReadonlySet<string> = new Set(['default', BLUEPRINT_SERVICE_NAME]);

const ROUTES: Record<string, Route> = {
  authorizationheaderunauthenticated: 'unauthenticated',
  authorizationheader: 'authenticated',
};

/** 127.0.0.0/8, ::1, and both as IPv4-mapped IPv6 (how a dual-stack socket reports an IPv4 peer). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.toLowerCase().replace(/^::ffff:/, '');
  return a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

/** The Host header names loopback (or is absent, as HTTP/1.0 allows): not a rebound DNS name. */
function isLoopbackHostHeader(host: string | undefined, listenHost: string): boolean {
  if (host === undefined) return true;
  const name = host.trim().toLowerCase().replace(/:\d+$/, '');
  return (
    name === 'localhost' ||
    name === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name) ||
    name === listenHost.toLowerCase()
  );
}

const header = (h: SidecarRequest['headers'], name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

export function createSidecarHandler(config: SidecarConfig, deps: SidecarDeps): SidecarHandler {
  const log = deps.log ?? (() => {});
  const baseFetch = deps.fetch ?? fetch;
  const bridgeFetch: typeof fetch = (input, init) =>
    baseFetch(input, { ...init, signal: AbortSignal.timeout(BRIDGE_TIMEOUT_MS) });
  // Every request shape (scope, agent, agent user, user token) cached until shortly before expiry,
  // one exchange for concurrent callers: the client packages' cache (docs/clients.md#api).
  const proof = async (): Promise<Proof> => {
    try {
      return await deps.proof();
    } catch (e) {
      throw new ProofFailure(e);
    }
  };
  const tokens = createAgentTokenSource({ bridgeUrl: config.bridgeUrl, proof, fetch: bridgeFetch });
  const listenHost = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  let health:
    { at: number; problem: SidecarProblem | undefined; pending?: Promise<SidecarProblem | undefined> } | undefined;
  const now = deps.now ?? (() => Date.now());

  async function checkHealth(): Promise<SidecarProblem | undefined> {
    if (health && !health.pending && now() - health.at < HEALTH_CACHE_MS) return health.problem;
    if (health?.pending) return health.pending;
    const pending = (async () => {
      try {
        await proof();
      } catch (e) {
        return proofProblem(config, (e as ProofFailure).cause);
      }
      try {
        const res = await bridgeFetch(new URL('/readyz', config.bridgeUrl));
        await res.body?.cancel();
        if (!res.ok) return unavailable(`agent-id-bridge at ${config.bridgeUrl} is not ready (HTTP ${res.status})`);
      } catch (e) {
        return unavailable(`agent-id-bridge at ${config.bridgeUrl} cannot be reached: ${errorMessage(e)}`);
      }
      return undefined;
    })();
    health = { at: now(), problem: undefined, pending };
    const problem = await pending;
    health = { at: now(), problem };
    return problem;
  }

  async function route(req: SidecarRequest, url: URL, line: LogLine): Promise<SidecarResponse> {
    const segments = url.pathname.split('/').filter((s) => s !== '');
    if (segments.length === 1 && segments[0]!.toLowerCase() === 'healthz') {
      line.route = 'healthz';
      if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed();
      const problem = await checkHealth();
      if (problem)
        throw new SidecarProblem('unhealthy', 503, problem.title, {
          retryAfterSec: problem.retryAfterSec ?? DEFAULT_RETRY_AFTER_SEC,
        });
      return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'Healthy' };
    }
    // Microsoft's sidecar answers loopback callers only (LocalCallerRestriction.cs, /healthz excepted).
    if (!config.allowNonLoopbackCallers && !isLoopbackAddress(req.remoteAddress))
      throw new SidecarProblem(
        'caller_not_loopback',
        403,
        'agent-id-bridge-sidecar answers callers on this host only: call it over loopback (http://localhost:5178 from the same host, pod or network namespace), or start it with --allow-non-loopback-callers on a network only your agent can reach',
      );
    // A name other than loopback is what a rebound DNS name looks like; with non-loopback callers allowed, the network decides.
    if (!config.allowNonLoopbackCallers && !isLoopbackHostHeader(header(req.headers, 'host'), listenHost))
      throw new SidecarProblem(
        'host_not_loopback',
        403,
        'The Host header must name this sidecar by a loopback address (localhost, 127.0.0.1 or [::1]): set SIDECAR_URL to http://localhost:5178',
      );
    const kind = segments.length === 2 ? ROUTES[segments[0]!.toLowerCase()] : undefined;
    if (kind === undefined) throw notFound();
    line.route = kind === 'authenticated' ? 'AuthorizationHeader' : 'AuthorizationHeaderUnauthenticated';
    if (req.method !== 'GET') throw methodNotAllowed();
    let serviceName: string;
    try {
      serviceName = decodeURIComponent(segments[1]!);
    } catch {
      throw notFound();
    }
    // The name is the caller's text: logged when it is one the operator configured (or Microsoft's
    // defaults), never as whatever was sent, which could be anything, a token included.
    const defaults = defaultsFor(config, serviceName);
    line.service =
      defaults !== undefined || KNOWN_SERVICE_NAMES.has(serviceName.toLowerCase()) ? serviceName : '(unconfigured)';
    const plan = planExchange(
      kind,
      serviceName,
      parseQuery(url.searchParams),
      kind === 'authenticated' ? header(req.headers, 'authorization') : undefined,
      defaults,
    );
    line.mode = plan.mode;
    const token = await exchange(plan);
    return {
      status: 200,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ authorizationHeader: `Bearer ${token.accessToken}` }),
    };
  }

  async function exchange(plan: ExchangePlan): Promise<AgentToken> {
    let token: AgentToken;
    try {
      token = await tokens.getToken({
        scope: plan.scope,
        agent: plan.agent,
        agentUser: plan.agentUser,
        userToken: plan.userToken,
        forceRefresh: plan.forceRefresh,
      });
    } catch (e) {
      throw bridgeProblem(config, e);
    }
    if (plan.tenant !== undefined) {
      const tid = claimOf(token.accessToken, 'tid');
      if (typeof tid === 'string' && tid.toLowerCase() !== plan.tenant)
        throw new SidecarProblem(
          'tenant_mismatch',
          400,
          "optionsOverride.AcquireTokenOptions.Tenant names another tenant than the one agent-id-bridge's policy maps this workload to: remove it, or ask the bridge's operator to map the workload to that tenant",
        );
    }
    return token;
  }

  const handler = async (req: SidecarRequest): Promise<SidecarResponse> => {
    const started = now();
    const line: LogLine = { msg: 'request', method: req.method };
    let res: SidecarResponse;
    try {
      let url: URL;
      try {
        url = new URL(req.url, 'http://sidecar.invalid');
      } catch {
        throw notFound();
      }
      res = await route(req, url, line);
    } catch (e) {
      const problem = e instanceof SidecarProblem ? e : internalError(e, line);
      line.problem = problem.code;
      line.request_id = problem.requestId;
      res = {
        status: problem.status,
        headers: {
          'content-type': 'application/problem+json',
          ...(problem.retryAfterSec !== undefined ? { 'retry-after': String(problem.retryAfterSec) } : {}),
        },
        body: JSON.stringify(problem.body),
      };
    }
    res.headers['cache-control'] = 'no-store';
    line.status = res.status;
    line.ms = Math.round(now() - started);
    log(line);
    return res;
  };
  return Object.assign(handler, { tokens });
}

function errorMessage(e: unknown): string {
  const err = e as { message?: unknown; cause?: { message?: unknown; code?: unknown } };
  const cause = err?.cause?.code ?? err?.cause?.message;
  return `${typeof err?.message === 'string' ? err.message : String(e)}${cause !== undefined ? ` (${String(cause)})` : ''}`;
}

function unavailable(
  title: string,
  retryAfterSec = DEFAULT_RETRY_AFTER_SEC,
  extra: { bridgeError?: string; requestId?: string } = {},
): SidecarProblem {
  return new SidecarProblem('bridge_unavailable', 503, title, { retryAfterSec, ...extra });
}

function proofProblem(config: SidecarConfig, e: unknown): SidecarProblem {
  return new SidecarProblem(
    'proof_unavailable',
    503,
    `The platform proof (${describeProof(config.proof)}) could not be obtained: ${errorMessage(e)}`,
    {
      retryAfterSec: DEFAULT_RETRY_AFTER_SEC,
      detail: `Chosen by ${config.proofBecause}; docs/sidecar.md#proof-sources.`,
    },
  );
}

/**
 * The bridge's answer as a problem: its refusals (4xx) keep their status and carry its
 * error_description, which says what to fix, and its request_id; a bridge that is down, busy or
 * failing (network error, timeout, 429, 5xx) is a retryable 503.
 */
function bridgeProblem(config: SidecarConfig, e: unknown): SidecarProblem {
  if (e instanceof SidecarProblem) return e;
  if (e instanceof BridgeExchangeError) {
    const ids = { bridgeError: e.error, ...(e.requestId !== undefined ? { requestId: e.requestId } : {}) };
    const suffix = ` (${e.error}${e.requestId !== undefined ? `, request_id ${e.requestId}` : ''})`;
    if (e.status === 429 || e.status >= 500)
      return unavailable(
        `agent-id-bridge is unavailable, retry later: ${e.errorDescription}${suffix}`,
        e.retryAfterSec ?? DEFAULT_RETRY_AFTER_SEC,
        ids,
      );
    return new SidecarProblem(
      'bridge_refused',
      e.status >= 400 && e.status < 500 ? e.status : 400,
      `agent-id-bridge refused: ${e.errorDescription}${suffix}`,
      {
        ...ids,
        detail: 'The bridge’s audit line for this request_id has the reason (docs/operations.md#failures).',
      },
    );
  }
  if (e instanceof ProofFailure) return proofProblem(config, e.cause);
  // Anything else is the request to the bridge failing: refused connection, timeout, no answer.
  return unavailable(`agent-id-bridge at ${config.bridgeUrl} cannot be reached: ${errorMessage(e)}`);
}

/** A proof source's failure (an AWS SDK or google-auth-library error, the file, the command), told apart from the bridge's. */
class ProofFailure extends Error {
  constructor(cause: unknown) {
    super('the platform proof could not be obtained', { cause });
    this.name = 'ProofFailure';
  }
}

function internalError(e: unknown, line: LogLine): SidecarProblem {
  line.error = (e as Error)?.name ?? 'Error';
  return new SidecarProblem(
    'internal_error',
    500,
    'agent-id-bridge-sidecar failed unexpectedly; its log has the error name',
  );
}

function notFound(): SidecarProblem {
  return new SidecarProblem(
    'not_found',
    404,
    'agent-id-bridge-sidecar serves GET /AuthorizationHeaderUnauthenticated/{serviceName}, GET /AuthorizationHeader/{serviceName} and GET /healthz; for /DownstreamApi or /Validate, call the API yourself with the authorization header',
  );
}

function methodNotAllowed(): SidecarProblem {
  return new SidecarProblem('method_not_allowed', 405, 'agent-id-bridge-sidecar answers GET only');
}

/** A claim of a JWT, read without verifying: only to compare with what the caller asked for. */
function claimOf(token: string, claim: string): unknown {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'))[claim];
  } catch {
    return undefined;
  }
}

export interface RunningSidecar {
  readonly url: string;
  readonly handler: SidecarHandler;
  close(): Promise<void>;
}

/** Serves `handler` on config.listen over node:http. */
export async function listenSidecar(config: SidecarConfig, handler: SidecarHandler): Promise<RunningSidecar> {
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    // A GET carries no body; the request is answered from the line and headers alone.
    req.resume();
    void handler({
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
      remoteAddress: req.socket.remoteAddress,
    }).then((out) => {
      res.writeHead(out.status, out.headers);
      res.end(req.method === 'HEAD' ? undefined : out.body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    handler,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
