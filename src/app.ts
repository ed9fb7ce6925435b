/**
 * The Hono app, runtime-neutral: routes, one error mapper, no-store on every token and error
 * response. Built once per process/isolate by src/node.ts or src/worker.ts via src/compose.ts.
 */
import { Hono, type Context } from 'hono';
import { isoTime, scrubSecrets, type AuditEvent, type AuditSink } from './audit/audit.ts';
import { BridgeError, storeUnavailable, toWire } from './errors.ts';
import { NO_STORE, noStoreJson } from './http.ts';
import { discoveryDocument, jwksDocument } from './issuer/documents.ts';
import type { IssuerKeys } from './issuer/keys.ts';
import type { RequestOrigin } from './limits/admission.ts';
import { StoreUnavailableError } from './store/ports.ts';
import { checkProofUnspent, exchange, verifyAndDecide, type ExchangeDeps } from './token/exchange.ts';
import { readStrictForm } from './token/form.ts';
import { parseTokenRequest } from './token/request.ts';
import { AUDIT_DETAIL_MAX_CHARS, AUDIT_FIELD_MAX_CHARS, JWKS_RESPONSE_MAX_AGE_SEC, TOKEN_TYPE } from './constants.ts';
import { Readiness } from './lifecycle/readiness.ts';
import { noMetrics, type BridgeMetrics } from './metrics/port.ts';
import { BUILD_INFO } from './version.ts';

export interface AppDeps extends ExchangeDeps {
  /** Token types of every registered platform's proofs (src/platforms.ts). */
  proofTokenTypes: ReadonlySet<string>;
  keys: IssuerKeys;
  audit: AuditSink;
  explainEnabled: boolean;
  /** Present only in the sandbox: serves GET /_sandbox. */
  sandboxManifest?: () => Record<string, unknown>;
  /** Logs unexpected errors (already scrubbed of tokens). */
  logError?: (message: string) => void;
  /** Where a request came from (src/compose.ts RuntimePorts.clientOrigin). */
  clientOrigin?: (req: Request, env: unknown) => RequestOrigin;
  /** Counters and timings (src/metrics/port.ts); a no-op unless the runtime backs it. */
  metrics?: BridgeMetrics;
  /** What /readyz checks; further checks (a shared store) are registered with `readiness.add`. */
  readiness?: Readiness;
  /** Serves GET /metrics on this listener (Node, unless BRIDGE_METRICS_LISTEN moves it elsewhere). */
  metricsEndpoint?: () => Promise<Response>;
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  const discovery = discoveryDocument(deps.issuer);
  const jwks = jwksDocument(deps.keys);
  // A JSON line like every other log line (docs/operations.md, lifecycle and logs).
  const logError =
    deps.logError ??
    ((m: string) =>
      console.error(JSON.stringify({ level: 'error', time: new Date().toISOString(), type: 'error', msg: m })));
  const originOf = deps.clientOrigin ?? (() => ({ address: undefined }));
  const metrics = deps.metrics ?? noMetrics;
  const readiness = deps.readiness ?? new Readiness();
  const platforms = [...new Set(deps.verifiers.map((v) => v.platform))];

  app.get('/.well-known/openid-configuration', (c) =>
    c.json(discovery, 200, { 'Cache-Control': 'public, max-age=3600' }),
  );
  // Entra caches JWKS up to about an hour (docs/architecture.md#the-bridge-as-an-oidc-issuer); keep ours short so a published next key is seen promptly.
  app.get('/.well-known/jwks.json', (c) =>
    c.json(jwks, 200, { 'Cache-Control': `public, max-age=${JWKS_RESPONSE_MAX_AGE_SEC}` }),
  );
  // Liveness: the process answers. Version and commit tell which build answered (docs/operations.md).
  app.get('/healthz', (c) =>
    c.json({ status: 'ok', version: BUILD_INFO.version, commit: BUILD_INFO.commit }, 200, NO_STORE),
  );
  app.get('/version', (c) => c.json({ version: BUILD_INFO.version, commit: BUILD_INFO.commit }, 200, NO_STORE));
  // Readiness: what this process needs right now to answer (src/lifecycle/readiness.ts); 503 while draining.
  app.get('/readyz', async (c) => {
    const report = await readiness.report();
    const status = report.ready ? 'ready' : report.draining ? 'draining' : 'not_ready';
    const body = {
      status,
      checks: report.checks,
      issuer: deps.issuer,
      keys: jwks.keys.length,
      platforms,
      entra_transport: deps.agentTokens.transportName,
    };
    return c.json(body, report.ready ? 200 : 503, NO_STORE);
  });
  if (deps.metricsEndpoint) {
    const scrape = deps.metricsEndpoint;
    app.get('/metrics', () => scrape());
  }

  /**
   * Both decision routes share one shape: a fresh audit event, the handler's JSON body (200) or a
   * refusal, no-store and the request id on every answer, and exactly one audit line at the end.
   */
  const decisionRoute =
    (
      route: AuditEvent['route'],
      handle: (req: Request, audit: AuditEvent, origin: RequestOrigin) => Promise<Record<string, unknown>>,
    ) =>
    async (c: Context) => {
      const started = Date.now();
      const audit: AuditEvent = {
        time: isoTime(started),
        request_id: crypto.randomUUID(),
        route,
        outcome: 'error',
      };
      try {
        const origin = originOf(c.req.raw, c.env);
        if (origin.address !== undefined) audit.client = origin.address;
        return noStoreJson(await handle(c.req.raw, audit, origin), 200, { 'X-Request-Id': audit.request_id });
      } catch (e) {
        return refuse(c, e, audit);
      } finally {
        audit.duration_ms = Date.now() - started;
        deps.audit(audit);
        if (route === '/token')
          metrics.exchange({
            platform: audit.platform ?? 'none',
            mode: audit.mode ?? 'none',
            outcome: audit.outcome,
            reason: audit.reason ?? 'none',
          });
      }
    };

  app.post(
    '/token',
    decisionRoute('/token', async (raw, audit, origin) => {
      const req = parseTokenRequest(await readStrictForm(raw), deps.proofTokenTypes);
      const result = await exchange(deps, req, audit, origin);
      audit.outcome = 'issued';
      return {
        access_token: result.accessToken,
        issued_token_type: TOKEN_TYPE.accessToken,
        token_type: 'Bearer',
        expires_in: result.expiresIn,
        scope: result.scope,
        agent_id: result.agentId,
      };
    }),
  );

  app.post(
    '/explain',
    decisionRoute('/explain', async (raw, audit, origin) => {
      // Whether the dry run is on is a public fact about this bridge: a client can say why it cannot check.
      if (!deps.explainEnabled)
        throw new BridgeError('invalid_mode', '/explain is disabled (BRIDGE_EXPLAIN=off)', {
          publicDetail: 'POST /explain is turned off on this bridge (BRIDGE_EXPLAIN=off).',
        });
      const req = parseTokenRequest(await readStrictForm(raw), deps.proofTokenTypes);
      // The caller must present a valid proof: it learns only about its own evaluation.
      const { workload, decision } = await verifyAndDecide(deps, req, audit, origin, { explain: true });
      // A dry run reads the replay store and writes nothing: explaining a proof never spends it.
      await checkProofUnspent(deps, workload);
      audit.outcome = 'explained';
      if (!decision.allowed) audit.reason = decision.reason;
      return {
        allowed: decision.allowed,
        ...(decision.allowed
          ? { rule: decision.rule.name, agent_id: decision.agent.agentId, tenant_id: decision.agent.tenantId }
          : { error: toWire(decision.reason).error, reason: decision.reason }),
        workload: {
          platform: workload.platform,
          proof_kind: workload.proofKind,
          issuer: workload.issuer,
          principal: workload.principal,
          attributes: workload.attributes,
        },
        request: {
          mode: req.mode,
          resource: req.resource,
          scopes: req.scopes,
          agent: req.agent ?? null,
          agent_user: req.agentUserRaw ?? null,
        },
        trace: decision.trace ?? [],
      };
    }),
  );

  if (deps.sandboxManifest) {
    const manifest = deps.sandboxManifest;
    app.get('/_sandbox', (c) => c.json(manifest(), 200, NO_STORE));
  }

  // The path is not echoed: an answer never reflects what a caller chose to put in it.
  app.notFound((c) => c.json({ error: 'not_found', error_description: 'No such route.' }, 404, NO_STORE));
  app.onError((err, c) => {
    logError(`unexpected error on ${c.req.method} ${c.req.path}: ${scrubSecrets(`${err.name}: ${err.message}`)}`);
    const wire = toWire('internal_error');
    return c.json({ error: wire.error, error_description: wire.description }, 500, NO_STORE);
  });

  function refuse(c: Context, e: unknown, audit: AuditEvent): Response {
    let err: BridgeError;
    if (e instanceof BridgeError) err = e;
    else if (e instanceof StoreUnavailableError) {
      metrics.storeError({ store: e.store, condition: e.condition });
      err = storeUnavailable(e);
    } else {
      logError(
        `unexpected error on ${c.req.path} (${audit.request_id}): ${scrubSecrets(e instanceof Error ? `${e.name}: ${e.message}` : String(e))}`,
      );
      err = new BridgeError('internal_error', 'unexpected error');
    }
    const wire = toWire(err.reason);
    audit.outcome = err.reason === 'internal_error' || wire.status >= 500 ? 'error' : 'denied';
    audit.reason = err.reason;
    // Details may quote attacker-chosen values (an unverified iss): scrubbed and capped.
    if (err.detail) audit.detail = scrubSecrets(err.detail).slice(0, AUDIT_DETAIL_MAX_CHARS);
    if (err.fields) audit.fields = auditFields(err.fields);
    if (err.aadsts) audit.aadsts = err.aadsts;
    if (err.correlationId) audit.entra_correlation_id = err.correlationId;
    const headers: Record<string, string> = { 'X-Request-Id': audit.request_id };
    if (err.retryAfterSec !== undefined && (wire.status === 429 || wire.status === 503))
      headers['Retry-After'] = String(Math.max(1, Math.ceil(err.retryAfterSec)));
    const description = err.publicDetail ? `${wire.description} ${err.publicDetail}` : wire.description;
    return noStoreJson(
      { error: wire.error, error_description: description, request_id: audit.request_id },
      wire.status,
      headers,
    );
  }

  return app;
}

/** Refusal fields may quote attacker-chosen values: scrubbed of anything JWT-shaped and capped. */
function auditFields(fields: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields))
    if (v !== undefined) out[k] = scrubSecrets(v).slice(0, AUDIT_FIELD_MAX_CHARS);
  return out;
}
