/**
 * The composition root (docs/architecture.md#code-layout): the one place where src/ meets adapters/. It turns
 * a validated Config plus the runtime's ports into the app's dependencies, once per process or
 * isolate. A platform without configuration has no verifier, so its proofs are refused.
 */
import { createApp, type AppDeps } from './app.ts';
import { jsonLineAuditSink, discardAudit, type AuditSink } from './audit/audit.ts';
import { ConfigError, type Config } from './config/config.ts';
import { ENTRA_MAX_INLINE_RETRY_AFTER_SEC, ENTRA_RETRY_BASE_MS, TOKEN_RENEW_BEFORE_EXPIRY_SEC } from './constants.ts';
import { AgentTokenService } from './entra/client.ts';
import type { EntraTransport } from './entra/types.ts';
import { mintBridgeAssertion } from './issuer/assertion.ts';
import { loadIssuerKeys } from './issuer/keys.ts';
import { createBoundedFetch, type BoundedFetch } from './net/bounded-fetch.ts';
import { AdmissionGuard, type RequestOrigin } from './limits/admission.ts';
import { MemoryRateLimiter } from './limits/rate-limiter.ts';
import type { RuntimeDenyList } from './policy/deny.ts';
import { MemoryReplayStore } from './store/memory.ts';
import type { RateLimiter, ReplayStore, SharedCache, SharedVerifiedProofs } from './store/ports.ts';
import type { EntraToken } from './entra/types.ts';
import { PLATFORMS, proofTokenTypes } from './platforms.ts';
import type { AdapterDeps, PlatformModule, WorkloadVerifier } from './verify/contract.ts';
import { VerifiedProofCache } from './verify/verified-cache.ts';
import { Readiness } from './lifecycle/readiness.ts';
import { instrumentBoundedFetch, instrumentEntraTransport } from './metrics/instrument.ts';
import { noMetrics, type BridgeMetrics } from './metrics/port.ts';

export interface EntraTransportFactory {
  (p: { authorityHost: string; endpoint: string; fetch: BoundedFetch; timeoutMs: number }): EntraTransport;
}

export interface RuntimePorts {
  /** msal-node on Node, fetch on Workers: the runtime decides (docs/workers.md#what-differs-from-node). */
  entraTransport: EntraTransportFactory;
  fetchImpl?: typeof fetch;
  /** Unix seconds. */
  clock?: () => number;
  replay?: ReplayStore;
  rateLimiter?: RateLimiter;
  /** Entra tokens shared by replicas (Redis on Node: src/store/redis/); none by default. */
  sharedTokenCache?: SharedCache<EntraToken>;
  /** Proofs verified by an upstream call, shared by replicas behind the in-process cache (Redis on Node); none by default. */
  sharedVerifiedProofs?: SharedVerifiedProofs;
  audit?: AuditSink;
  /** Where audit JSON lines go when `audit` is not given (default console.log; Node: src/audit/line-writer.ts). */
  auditLine?: (line: string) => void;
  sleep?: (ms: number) => Promise<void>;
  sandboxManifest?: () => Record<string, unknown>;
  logError?: (message: string) => void;
  /**
   * Where a request came from (src/limits/client-address.ts): Node reads the socket, Workers the
   * CF-Connecting-IP header. `env` is what the runtime passed to app.fetch. Without it, every request
   * shares one client budget.
   */
  clientOrigin?: (req: Request, env: unknown) => RequestOrigin;
  /** A kill switch kept outside the policy file (Workers: src/store/durable/deny-list.ts). */
  runtimeDeny?: RuntimeDenyList;
  /** Prometheus on Node (src/metrics/prometheus.ts); nothing on Workers. */
  metrics?: BridgeMetrics;
  /** Serves GET /metrics on the main listener. */
  metricsEndpoint?: () => Promise<Response>;
  /** Readiness checks registered before the app is built (e.g. a Redis connection); more may be added later. */
  readiness?: Readiness;
}

/**
 * The verifiers of every platform the policy enables (its `platforms.<name>` section is present), in
 * registry order. Every problem (an adapter refusing its section, two verifiers claiming the same
 * proofs) is reported together in one ConfigError, so such a bridge never starts.
 */
export function buildVerifiers(
  config: Config,
  deps: AdapterDeps,
  platforms: readonly PlatformModule[] = PLATFORMS,
): WorkloadVerifier[] {
  const verifiers: WorkloadVerifier[] = [];
  const problems: string[] = [];
  const runtime = { allowInsecureLoopback: config.allowInsecureLoopback };
  for (const platform of platforms) {
    const section = config.platforms[platform.name];
    if (section === undefined) continue;
    try {
      verifiers.push(...platform.createVerifiers(section, deps, runtime));
    } catch (e) {
      if (e instanceof ConfigError) problems.push(...e.problems);
      else problems.push(`policy.platforms.${platform.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  problems.push(...overlappingClaims(verifiers));
  if (problems.length > 0) throw new ConfigError(problems);
  return verifiers;
}

/**
 * Routing takes the first verifier that accepts a proof (src/token/exchange.ts), so two verifiers
 * that claim the same token type and issuer would make the answer depend on list order: refused.
 * A verifier without an issuer list claims every proof of its token types.
 */
function overlappingClaims(verifiers: readonly WorkloadVerifier[]): string[] {
  const problems: string[] = [];
  for (const [i, a] of verifiers.entries()) {
    for (const [j, b] of verifiers.entries()) {
      if (j <= i) continue;
      const sharedTypes = a.tokenTypes.filter((t) => b.tokenTypes.includes(t));
      if (sharedTypes.length === 0) continue;
      const shared =
        a.issuers === undefined
          ? (b.issuers ?? ['any issuer'])
          : b.issuers === undefined
            ? a.issuers
            : a.issuers.filter((iss) => b.issuers!.includes(iss));
      if (shared.length > 0)
        problems.push(
          `platforms.${a.platform} and platforms.${b.platform} both claim ${sharedTypes.join(', ')} proofs from ${shared.map((iss) => JSON.stringify(iss)).join(', ')}; each issuer may belong to one platform only`,
        );
    }
  }
  return problems;
}

export async function buildAppDeps(config: Config, ports: RuntimePorts): Promise<AppDeps> {
  const clock = ports.clock ?? (() => Math.floor(Date.now() / 1000));
  const metrics = ports.metrics ?? noMetrics;
  const fetchPort = createBoundedFetch({
    allowInsecureLoopback: config.allowInsecureLoopback,
    ...(ports.fetchImpl ? { fetchImpl: ports.fetchImpl } : {}),
  });
  const keys = await loadIssuerKeys(config.signingKey, config.nextSigningKey);
  const transport = instrumentEntraTransport(
    ports.entraTransport({
      authorityHost: config.entra.authorityHost,
      endpoint: config.entra.endpoint,
      fetch: fetchPort,
      timeoutMs: config.entra.timeoutMs,
    }),
    metrics,
  );
  const audience = config.entra.tokenExchangeAudience;
  const agentTokens = new AgentTokenService({
    transport,
    mintAssertion: (subject) => mintBridgeAssertion(keys, { issuer: config.issuer, subject, audience, now: clock() }),
    fic: { issuer: config.issuer, audience },
    clock,
    renewBeforeSec: TOKEN_RENEW_BEFORE_EXPIRY_SEC,
    retry: {
      attempts: config.entra.maxAttempts,
      baseDelayMs: ENTRA_RETRY_BASE_MS,
      maxInlineRetryAfterSec: ENTRA_MAX_INLINE_RETRY_AFTER_SEC,
    },
    ...(ports.sleep ? { sleep: ports.sleep } : {}),
    ...(ports.sharedTokenCache ? { shared: ports.sharedTokenCache } : {}),
  });
  const verifiedProofs = new VerifiedProofCache();
  metrics.registerCache('verified_proof', () => verifiedProofs.stats);
  metrics.registerCache('entra_t1', () => agentTokens.cacheStats.t1);
  metrics.registerCache('entra_token', () => agentTokens.cacheStats.tokens);
  const readiness = ports.readiness ?? new Readiness();
  // Both are loaded before the app exists (a bridge without them never starts); the checks say so on /readyz.
  readiness.add('signing_key', () => keys.current.privateKey !== undefined);
  readiness.add('policy', () => config.policy !== undefined);
  return {
    issuer: config.issuer,
    audience: config.audience,
    verifiers: buildVerifiers(config, {
      fetch: instrumentBoundedFetch(fetchPort, metrics),
      clock,
      registerCache: (name, stats) => metrics.registerCache(name, stats),
    }),
    proofTokenTypes: proofTokenTypes(PLATFORMS),
    policy: config.policy,
    agentTokens,
    replay: ports.replay ?? new MemoryReplayStore(clock, { maxPerPartition: config.replayQuotaPerIssuer }),
    rateLimiter: ports.rateLimiter ?? new MemoryRateLimiter(config.rateLimitPerMinute, clock, config.admission.maxKeys),
    admission: new AdmissionGuard(config.admission, clock),
    clock,
    verifiedProofs,
    ...(ports.sharedVerifiedProofs ? { sharedProofs: ports.sharedVerifiedProofs } : {}),
    keys,
    audit: ports.audit ?? (config.audit === 'off' ? discardAudit : jsonLineAuditSink(ports.auditLine)),
    explainEnabled: config.explain,
    ...(ports.sandboxManifest ? { sandboxManifest: ports.sandboxManifest } : {}),
    ...(ports.logError ? { logError: ports.logError } : {}),
    ...(ports.clientOrigin ? { clientOrigin: ports.clientOrigin } : {}),
    ...(ports.runtimeDeny ? { runtimeDeny: ports.runtimeDeny } : {}),
    metrics,
    readiness,
    ...(ports.metricsEndpoint ? { metricsEndpoint: ports.metricsEndpoint } : {}),
  };
}

export async function buildApp(config: Config, ports: RuntimePorts) {
  const deps = await buildAppDeps(config, ports);
  return { app: createApp(deps), deps };
}
