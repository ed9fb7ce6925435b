/**
 * The composition root (style.md §B.2 rule 3): the one place where src/ meets adapters/. It turns
 * a validated Config plus the runtime's ports into the app's dependencies, once per process or
 * isolate. A platform without configuration has no verifier, so its proofs are refused.
 */
import { createAwsVerifiers } from '../adapters/aws/index.ts';
import { createGcpVerifier, GCP_DEFAULT_JWKS_URL } from '../adapters/gcp/index.ts';
import { createN8nVerifier } from '../adapters/n8n/index.ts';
import { createApp, type AppDeps } from './app.ts';
import { jsonLineAuditSink, discardAudit, type AuditSink } from './audit/audit.ts';
import type { Config } from './config/config.ts';
import { ENTRA_MAX_INLINE_RETRY_AFTER_SEC, ENTRA_RETRY_BASE_MS, TOKEN_RENEW_BEFORE_EXPIRY_SEC } from './constants.ts';
import { AgentTokenService } from './entra/client.ts';
import type { EntraTransport } from './entra/types.ts';
import { mintBridgeAssertion } from './issuer/assertion.ts';
import { loadIssuerKeys } from './issuer/keys.ts';
import { createBoundedFetch, type BoundedFetch } from './net/bounded-fetch.ts';
import { MemoryRateLimiter, MemoryReplayStore } from './store/memory.ts';
import type { RateLimiter, ReplayStore } from './store/ports.ts';
import type { AdapterDeps, WorkloadVerifier } from './verify/contract.ts';
import { VerifiedProofCache } from './verify/verified-cache.ts';

export interface EntraTransportFactory {
  (p: { authorityHost: string; endpoint: string; fetch: BoundedFetch; timeoutMs: number }): EntraTransport;
}

export interface RuntimePorts {
  /** msal-node on Node, fetch on Workers: the runtime decides (README: Entra client). */
  entraTransport: EntraTransportFactory;
  fetchImpl?: typeof fetch;
  /** Unix seconds. */
  clock?: () => number;
  replay?: ReplayStore;
  rateLimiter?: RateLimiter;
  audit?: AuditSink;
  sleep?: (ms: number) => Promise<void>;
  sandboxManifest?: () => Record<string, unknown>;
  logError?: (message: string) => void;
}

export function buildVerifiers(config: Config, deps: AdapterDeps): WorkloadVerifier[] {
  const verifiers: WorkloadVerifier[] = [];
  const { aws, gcp, n8n } = config.platforms;
  if (aws) verifiers.push(...createAwsVerifiers(aws, deps, { allowInsecureLoopback: config.allowInsecureLoopback }));
  if (gcp) verifiers.push(createGcpVerifier({ jwksUrl: gcp.jwksUrl ?? GCP_DEFAULT_JWKS_URL }, deps));
  if (n8n) verifiers.push(createN8nVerifier(n8n, deps));
  return verifiers;
}

export async function buildAppDeps(config: Config, ports: RuntimePorts): Promise<AppDeps> {
  const clock = ports.clock ?? (() => Math.floor(Date.now() / 1000));
  const fetchPort = createBoundedFetch({ allowInsecureLoopback: config.allowInsecureLoopback, ...(ports.fetchImpl ? { fetchImpl: ports.fetchImpl } : {}) });
  const keys = await loadIssuerKeys(config.signingKey, config.nextSigningKey);
  const transport = ports.entraTransport({ authorityHost: config.entra.authorityHost, endpoint: config.entra.endpoint, fetch: fetchPort, timeoutMs: config.entra.timeoutMs });
  const agentTokens = new AgentTokenService({
    transport,
    mintAssertion: (subject) => mintBridgeAssertion(keys, { issuer: config.issuer, subject, now: clock() }),
    clock,
    renewBeforeSec: TOKEN_RENEW_BEFORE_EXPIRY_SEC,
    retry: { attempts: config.entra.maxAttempts, baseDelayMs: ENTRA_RETRY_BASE_MS, maxInlineRetryAfterSec: ENTRA_MAX_INLINE_RETRY_AFTER_SEC },
    ...(ports.sleep ? { sleep: ports.sleep } : {}),
  });
  return {
    issuer: config.issuer,
    audience: config.audience,
    verifiers: buildVerifiers(config, { fetch: fetchPort, clock }),
    policy: config.policy,
    agentTokens,
    replay: ports.replay ?? new MemoryReplayStore(clock),
    rateLimiter: ports.rateLimiter ?? new MemoryRateLimiter(config.rateLimitPerMinute, clock),
    clock,
    verifiedProofs: new VerifiedProofCache(),
    keys,
    audit: ports.audit ?? (config.audit === 'off' ? discardAudit : jsonLineAuditSink()),
    explainEnabled: config.explain,
    ...(ports.sandboxManifest ? { sandboxManifest: ports.sandboxManifest } : {}),
    ...(ports.logError ? { logError: ports.logError } : {}),
  };
}

export async function buildApp(config: Config, ports: RuntimePorts) {
  const deps = await buildAppDeps(config, ports);
  return { app: createApp(deps), deps };
}
