/**
 * The metrics port: what the core reports, in words of its own, with no metrics library behind it.
 * The Node entry backs it with Prometheus (src/metrics/prometheus.ts, served at GET /metrics); the
 * Workers entry leaves the no-op, so the Worker bundle carries no metrics library (docs/operations.md,
 * metrics, says what to use on Workers instead).
 *
 * Every label value passed here comes from a closed set: platform names of the registry, modes,
 * outcomes and reason codes (src/errors.ts), Entra legs and results, AADSTS codes from a fixed
 * allow-list (src/entra/errors.ts). Never a principal, agent, tenant, token or anything a caller chose.
 */
import type { CacheStats } from '../util/expiring-cache.ts';

/** The Entra token requests the bridge makes (docs/entra.md): leg 1, leg 2 (resource token or T2), OBO, user_fic. */
export type EntraLeg = 'leg1' | 'leg2' | 'obo' | 'user_fic';

/** How one Entra request ended: a token, or which kind of failure. */
export type EntraCallResult = 'success' | 'throttled' | 'server_error' | 'rejected' | 'timeout' | 'network' | 'error';

/** Outbound calls a platform adapter makes to verify a proof. */
export type UpstreamKind = 'sts' | 'jwks';

export interface ExchangeObservation {
  /** The platform that claimed the proof, or 'none' when no platform did. */
  platform: string;
  /** The requested mode once parsed, else 'none'. */
  mode: string;
  /** issued, denied or error (the audit line's outcome). */
  outcome: string;
  /** The refusal reason code, or 'none' for an issued token. */
  reason: string;
}

export interface BridgeMetrics {
  /** One finished POST /token. */
  exchange(o: ExchangeObservation): void;
  /** One HTTP request to Entra (each retry counts); `aadsts` is an allow-listed code, 'other' or 'none'. */
  entraRequest(o: { leg: EntraLeg; result: EntraCallResult; aadsts: string; seconds: number }): void;
  /** One request to a platform verifier's upstream (AWS STS, a JWKS or discovery document). */
  upstreamRequest(o: { upstream: UpstreamKind; result: 'success' | 'error'; seconds: number }): void;
  /**
   * A store that could not answer (src/store/ports.ts StoreUnavailableError), or a backend error a
   * store saw (e.g. a Redis connection error): `store` and `condition` are short fixed words.
   */
  storeError(o: { store: string; condition: string }): void;
  /** Read a cache's counters at scrape time (src/util/expiring-cache.ts stats). */
  registerCache(name: string, stats: () => CacheStats): void;
  /** Read a store's own monotonic counters at scrape time, by event name (e.g. the Redis stores' stats()). */
  registerStoreEvents(store: string, counters: () => Readonly<Record<string, number>>): void;
}

/** Reports nothing: the Workers entry and tests that do not look at metrics. */
export const noMetrics: BridgeMetrics = {
  exchange: () => {},
  entraRequest: () => {},
  upstreamRequest: () => {},
  storeError: () => {},
  registerCache: () => {},
  registerStoreEvents: () => {},
};
