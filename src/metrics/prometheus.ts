/**
 * The metrics port (src/metrics/port.ts) backed by prom-client, for Node only: src/node.ts builds it
 * and serves its text at GET /metrics (Prometheus text exposition format 0.0.4,
 * https://prometheus.io/docs/instrumenting/exposition_formats/). One registry per bridge, so that
 * several bridges in one process (tests, the sandbox) do not share counters. The table of series is
 * in docs/operations.md (metrics).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CacheStats } from '../util/expiring-cache.ts';
import type { BuildInfo } from '../version.ts';
import type { BridgeMetrics } from './port.ts';

/**
 * Latency buckets in seconds: Entra answers in tens to hundreds of milliseconds, its timeout is
 * 10 s (ENTRA_TIMEOUT_MS); JWKS and STS answer faster and time out at 5 s (JWKS_TIMEOUT_MS).
 */
const LATENCY_BUCKETS_SEC = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface PrometheusMetrics {
  metrics: BridgeMetrics;
  registry: Registry;
  /** The answer to GET /metrics. */
  scrape(): Promise<Response>;
}

export function createPrometheusMetrics(build: BuildInfo, opts: { processMetrics?: boolean } = {}): PrometheusMetrics {
  const registry = new Registry();
  const registers = [registry];
  const caches = new Map<string, () => CacheStats>();
  const storeEvents = new Map<string, () => Readonly<Record<string, number>>>();

  const exchanges = new Counter({
    name: 'bridge_exchanges_total',
    help: 'Finished POST /token requests, by platform, mode, outcome and reason code.',
    labelNames: ['platform', 'mode', 'outcome', 'reason'] as const,
    registers,
  });
  const entraRequests = new Counter({
    name: 'bridge_entra_requests_total',
    help: 'HTTP requests to Microsoft Entra (each retry counts), by leg, result and allow-listed AADSTS code.',
    labelNames: ['leg', 'result', 'aadsts'] as const,
    registers,
  });
  const entraDuration = new Histogram({
    name: 'bridge_entra_request_duration_seconds',
    help: 'Duration of one HTTP request to Microsoft Entra, by leg.',
    labelNames: ['leg'] as const,
    buckets: LATENCY_BUCKETS_SEC,
    registers,
  });
  const upstreamDuration = new Histogram({
    name: 'bridge_upstream_request_duration_seconds',
    help: 'Duration of one request to a platform verifier upstream (sts: AWS STS; jwks: a JWKS or discovery document), by result.',
    labelNames: ['upstream', 'result'] as const,
    buckets: LATENCY_BUCKETS_SEC,
    registers,
  });
  const storeErrors = new Counter({
    name: 'bridge_store_errors_total',
    help: 'Store operations that could not be answered (full, unreachable), and backend errors a store saw, by store and condition.',
    labelNames: ['store', 'condition'] as const,
    registers,
  });

  // Cache counters are read from each cache's own stats when scraped (src/util/expiring-cache.ts).
  const cacheCounter = (name: string, help: string, pick: (s: CacheStats) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['cache'] as const,
      registers,
      collect() {
        this.reset();
        for (const [cache, stats] of caches) this.inc({ cache }, pick(stats()));
      },
    });
  cacheCounter('bridge_cache_hits_total', 'Lookups answered from a cache, by cache.', (s) => s.hits);
  cacheCounter('bridge_cache_misses_total', 'Lookups a cache could not answer, by cache.', (s) => s.misses);
  cacheCounter(
    'bridge_cache_evictions_total',
    'Unexpired entries a cache dropped to make room, by cache.',
    (s) => s.evictions,
  );
  new Gauge({
    name: 'bridge_cache_entries',
    help: 'Entries a cache holds, by cache.',
    labelNames: ['cache'] as const,
    registers,
    collect() {
      this.reset();
      for (const [cache, stats] of caches) this.set({ cache }, stats().entries);
    },
  });
  new Counter({
    name: 'bridge_store_events_total',
    help: "A store's own counters, by store and event (Redis: replay_errors, rate_limit_fallbacks, shared_cache_hits, shared_cache_fetches, shared_cache_wait_timeouts, shared_cache_errors, shared_cache_undecryptable, proof_cache_errors, proof_cache_undecryptable).",
    labelNames: ['store', 'event'] as const,
    registers,
    collect() {
      this.reset();
      for (const [store, read] of storeEvents)
        for (const [event, n] of Object.entries(read())) this.inc({ store, event }, n);
    },
  });
  new Gauge({
    name: 'bridge_build_info',
    help: 'The running build: version and commit (always 1).',
    labelNames: ['version', 'commit'] as const,
    registers,
  }).set({ version: build.version, commit: build.commit }, 1);
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry });

  const metrics: BridgeMetrics = {
    exchange: (o) => exchanges.inc({ platform: o.platform, mode: o.mode, outcome: o.outcome, reason: o.reason }),
    entraRequest: (o) => {
      entraRequests.inc({ leg: o.leg, result: o.result, aadsts: o.aadsts });
      entraDuration.observe({ leg: o.leg }, o.seconds);
    },
    upstreamRequest: (o) => upstreamDuration.observe({ upstream: o.upstream, result: o.result }, o.seconds),
    storeError: (o) => storeErrors.inc({ store: o.store, condition: o.condition }),
    registerCache: (name, stats) => {
      caches.set(name, stats);
    },
    registerStoreEvents: (store, counters) => {
      storeEvents.set(store, counters);
    },
  };

  return {
    metrics,
    registry,
    scrape: async () =>
      new Response(await registry.metrics(), {
        status: 200,
        headers: { 'content-type': registry.contentType, 'cache-control': 'no-store' },
      }),
  };
}
