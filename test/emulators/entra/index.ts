/**
 * A local Microsoft Entra emulator for the agent identity token flows (docs/entra.md#what-the-emulator-reproduces):
 * discovery, signing keys, and the token endpoint for leg 1 (T1), leg 2 (TR / T2), OBO, user_fic and
 * ROPC. It checks what Entra checks and refuses with Entra's error shape, so that passing against it
 * means working against real Entra. Uncertain behaviour is marked [inf] where it is implemented.
 *
 * @example
 *   const entra = await startEntraEmulator({ tenants: [tenant], allowInsecureLoopbackIssuer: true });
 *   // token endpoint: `${entra.url}/${tenant.tenantId}/oauth2/v2.0/token`
 *   await entra.close();
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { EmulatedTenant } from './model.ts';
import { DEFAULT_AUTHORITY_HOST, TOKEN_EXCHANGE_URI, TOKEN_EXCHANGE_URI_BY_HOST } from './constants.ts';
import { discoveryTenant, openIdConfiguration, openIdConfigurationV1 } from './discovery.ts';
import { EntraError, entraError } from './errors.ts';
import { faultError, isFault } from './faults.ts';
import { IssuerKeyCache, type UnreachableIssuerCode } from './issuer-keys.ts';
import type { FicErrorStyle } from './client-auth.ts';
import {
  classifyLeg,
  errorOutcome,
  handleTokenRequest,
  type Leg,
  type TokenEndpointDeps,
  type TokenOutcome,
} from './token-endpoint.ts';
import { createSigningKey } from './tokens.ts';
import { validateOptions } from './validate.ts';

export interface EntraEmulatorOptions {
  tenants: EmulatedTenant[];
  /** Accept http:// issuers on loopback hosts (sandbox/tests only). Real Entra fetches https issuers only → AADSTS90061 otherwise. */
  allowInsecureLoopbackIssuer?: boolean;
  /** Host that appears in issued tokens' iss and in discovery (default 'https://login.microsoftonline.com'). */
  authorityHost?: string;
  /** Current time in unix seconds (default real clock). */
  clock?: () => number;
  /**
   * How a federated-credential mismatch is answered: 'per-field' (default; current Entra, a code per
   * FIC field: 700211, 700212, 700213, 7002138, 70022204) or 'legacy' (AADSTS70021 for all, as in 2022).
   */
  ficErrors?: FicErrorStyle;
  /** Code for an issuer whose discovery or JWKS cannot be fetched: 90061 (default), 50166 or 501661 (all observed). */
  unreachableIssuerCode?: UnreachableIssuerCode;
  /**
   * The cloud's token-exchange audience (FIC audience, leg-1 resource). Default: the one of
   * `authorityHost`'s cloud (TOKEN_EXCHANGE_URI_BY_HOST), else the public cloud's.
   */
  tokenExchangeAudience?: string;
}

export type EntraFault =
  | { kind: 'throttle'; retryAfterSec: number } // 429 + Retry-After, Entra-shaped error body
  | { kind: 'unavailable'; status: 500 | 503; retryAfterSec?: number } // 5xx
  | { kind: 'slow'; delayMs: number } // answer normally after a delay
  | { kind: 'error'; status: number; error: string; aadsts: number; description: string }; // arbitrary Entra error

export interface EntraCall {
  tenantId: string;
  grantType: string;
  clientId: string;
  scope: string;
  fmiPath?: string;
  status: number;
  aadsts?: number;
  leg: Leg;
}

export interface EntraEmulator {
  readonly app: Hono; // usable in-process with app.request()/app.fetch
  readonly url: string; // http://127.0.0.1:<port> once listening ('' when created without listening)
  /** Queue faults applied to the next `count` (default 1) POSTs to the token endpoint, in order. */
  injectFault(fault: EntraFault, count?: number): void;
  clearFaults(): void;
  /** Every token-endpoint call, in order, with what leg it was and how it ended. */
  readonly calls: EntraCall[];
  resetCalls(): void;
  /**
   * Sign a human user in (ROPC against a registered client app) and return the user access token Tc.
   * It runs the token endpoint's password grant in-process: it is recorded in `calls` (leg 'ropc') but
   * does not consume queued faults, which are meant for the code under test.
   */
  signInUser(
    tenantId: string,
    p: { clientId: string; username: string; password: string; scope: string },
  ): Promise<string>;
  /** The emulator's token-signing public JWKS (what /{tid}/discovery/v2.0/keys serves). */
  jwks(): { keys: object[] };
  /** Drop the cached external-issuer discovery/JWKS (key rotation tests). */
  flushIssuerCache(): void;
  close(): Promise<void>;
}

const NO_STORE = { 'Cache-Control': 'no-store, no-cache', Pragma: 'no-cache' };

export function createEntraEmulator(opts: EntraEmulatorOptions): EntraEmulator {
  return buildEmulator(opts).emulator;
}

/** Listens on 127.0.0.1:port (0 = a random free port). */
export async function startEntraEmulator(opts: EntraEmulatorOptions, port = 0): Promise<EntraEmulator> {
  const built = buildEmulator(opts);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: built.emulator.app.fetch, port, hostname: '127.0.0.1' }, () =>
      resolve(s as Server),
    ) as Server;
    s.once('error', reject);
  });
  built.state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  built.state.close = () =>
    new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      // Keep-alive sockets (fetch, msal) would otherwise hold close() open.
      server.closeAllConnections();
    });
  return built.emulator;
}

function buildEmulator(opts: EntraEmulatorOptions): {
  emulator: EntraEmulator;
  state: { url: string; close: () => Promise<void> };
} {
  validateOptions(opts);
  const clock = opts.clock ?? (() => Math.floor(Date.now() / 1000));
  const authorityHost = (opts.authorityHost ?? DEFAULT_AUTHORITY_HOST).replace(/\/+$/, '');
  const deps: TokenEndpointDeps = {
    tenants: new Map(opts.tenants.map((t) => [t.tenantId.toLowerCase(), t])),
    key: createSigningKey(),
    authorityHost,
    clock,
    issuerKeys: new IssuerKeyCache({
      allowInsecureLoopback: opts.allowInsecureLoopbackIssuer === true,
      clock,
      ...(opts.unreachableIssuerCode ? { unreachableCode: opts.unreachableIssuerCode } : {}),
    }),
    ficErrors: opts.ficErrors ?? 'per-field',
    tokenExchangeUri:
      opts.tokenExchangeAudience ?? TOKEN_EXCHANGE_URI_BY_HOST[new URL(authorityHost).hostname] ?? TOKEN_EXCHANGE_URI,
  };
  const faults: EntraFault[] = [];
  const calls: EntraCall[] = [];
  const state = { url: '', close: async (): Promise<void> => {} };

  const record = (rawTenant: string, params: URLSearchParams, outcome: TokenOutcome): void => {
    const fmiPath = params.get('fmi_path');
    calls.push({
      tenantId: rawTenant,
      grantType: params.get('grant_type') ?? '',
      clientId: params.get('client_id') ?? '',
      scope: params.get('scope') ?? '',
      ...(fmiPath ? { fmiPath } : {}),
      status: outcome.status,
      ...(outcome.aadsts !== undefined ? { aadsts: outcome.aadsts } : {}),
      leg: classifyLeg(deps, rawTenant, params),
    });
  };

  const tokenCall = async (
    rawTenant: string,
    params: URLSearchParams,
    correlationId: string,
  ): Promise<TokenOutcome> => {
    try {
      return await handleTokenRequest(deps, rawTenant, params, correlationId);
    } catch (e) {
      // A bug in the emulator still answers like Entra's own 500, and is printed for the test log.
      console.error('entra emulator: unexpected error', e);
      return errorOutcome(entraError(50000), { now: clock(), correlationId, authorityHost: deps.authorityHost });
    }
  };

  const app = new Hono();

  // ─── Control routes: these exist only on the emulator (for the sandbox and tests that cannot call
  // methods, e.g. a workerd smoke test); real Entra has nothing like them. ───
  app.post('/_emulator/faults', async (c) => {
    const body = (await c.req.json().catch(() => null)) as { fault?: unknown; count?: unknown } | null;
    const fault = body?.fault;
    const count = body?.count ?? 1;
    if (!isFault(fault) || typeof count !== 'number' || !Number.isInteger(count) || count < 1) {
      return c.json(
        { error: 'invalid_request', error_description: 'expected {fault: EntraFault, count?: positive integer}' },
        400,
      );
    }
    for (let i = 0; i < count; i++) faults.push(fault);
    return c.json({ queued: faults.length });
  });
  app.delete('/_emulator/faults', (c) => {
    faults.length = 0;
    return c.body(null, 204);
  });
  app.get('/_emulator/calls', (c) => c.json(calls));
  app.delete('/_emulator/calls', (c) => {
    calls.length = 0;
    return c.body(null, 204);
  });

  // ─── Entra endpoints ───
  // Discovery points at the emulator's own origin (see discovery.ts); in-process requests name theirs.
  app.get('/:tid/v2.0/.well-known/openid-configuration', (c) => {
    try {
      const { segment, issuerTenant } = discoveryTenant(deps.tenants, c.req.param('tid'));
      return c.json(openIdConfiguration(deps.authorityHost, new URL(c.req.url).origin, segment, issuerTenant));
    } catch (e) {
      return discoveryError(e, c.req.query('client-request-id'));
    }
  });

  app.get('/:tid/.well-known/openid-configuration', (c) => {
    try {
      const { segment, issuerTenant } = discoveryTenant(deps.tenants, c.req.param('tid'));
      return c.json(openIdConfigurationV1(new URL(c.req.url).origin, segment, issuerTenant));
    } catch (e) {
      return discoveryError(e, c.req.query('client-request-id'));
    }
  });

  // One signing key for v1 and v2 tokens, as Entra's two key endpoints serve the same keys.
  for (const path of ['/:tid/discovery/v2.0/keys', '/:tid/discovery/keys']) {
    app.get(path, (c) => {
      try {
        discoveryTenant(deps.tenants, c.req.param('tid') ?? '');
        return c.json({ keys: [deps.key.publicJwk] });
      } catch (e) {
        return discoveryError(e, c.req.query('client-request-id'));
      }
    });
  }

  app.post('/:tid/oauth2/v2.0/token', async (c) => {
    const rawTenant = c.req.param('tid');
    // Entra reads a form body only: anything else is an empty form, hence "must contain 'grant_type'".
    const isForm = (c.req.header('content-type') ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');
    const params = isForm ? new URLSearchParams(await c.req.text()) : new URLSearchParams();
    // MSAL sends client-request-id in the query and the body; Entra echoes it as correlation_id (docs/entra.md#what-the-emulator-reproduces).
    const clientRequestId =
      c.req.query('client-request-id') ??
      c.req.header('client-request-id') ??
      params.get('client-request-id') ??
      undefined;
    const correlationId = clientRequestId ?? randomUUID();

    const fault = faults.shift();
    if (fault?.kind === 'slow') await new Promise((r) => setTimeout(r, fault.delayMs));
    const outcome =
      fault && fault.kind !== 'slow'
        ? errorOutcome(faultError(fault), { now: clock(), correlationId, authorityHost: deps.authorityHost })
        : await tokenCall(rawTenant, params, correlationId);
    record(rawTenant, params, outcome);

    const headers: Record<string, string> = { ...NO_STORE, ...outcome.headers };
    if (clientRequestId !== undefined) headers['client-request-id'] = clientRequestId;
    return c.json(outcome.body, outcome.status as 200, headers);
  });

  function discoveryError(e: unknown, clientRequestId: string | undefined): Response {
    if (!(e instanceof EntraError)) throw e;
    const o = errorOutcome(e, {
      now: clock(),
      correlationId: clientRequestId ?? randomUUID(),
      authorityHost: deps.authorityHost,
    });
    return Response.json(o.body, { status: o.status, headers: NO_STORE });
  }

  const emulator: EntraEmulator = {
    app,
    get url() {
      return state.url;
    },
    injectFault(fault, count = 1) {
      for (let i = 0; i < count; i++) faults.push(fault);
    },
    clearFaults() {
      faults.length = 0;
    },
    calls,
    resetCalls() {
      calls.length = 0;
    },
    async signInUser(tenantId, p) {
      const params = new URLSearchParams({
        grant_type: 'password',
        client_id: p.clientId,
        username: p.username,
        password: p.password,
        scope: p.scope,
      });
      const outcome = await tokenCall(tenantId, params, randomUUID());
      record(tenantId, params, outcome);
      if (outcome.status !== 200) throw new Error(`signInUser failed: ${String(outcome.body.error_description)}`);
      return outcome.body.access_token as string;
    },
    jwks() {
      return { keys: [{ ...deps.key.publicJwk }] };
    },
    flushIssuerCache() {
      deps.issuerKeys.flush();
    },
    close() {
      return state.close();
    },
  };
  return { emulator, state };
}

export type { EmulatedTenant } from './model.ts';
export type { Leg } from './token-endpoint.ts';
