/**
 * Decorators that report outbound calls to the metrics port (src/metrics/port.ts) without touching
 * the code that makes them: the Entra transport (one report per HTTP request, retries included)
 * and the bounded fetch the platform adapters use (STS and JWKS requests, by the `upstream` each
 * call site names).
 */
import { KNOWN_AADSTS_CODES } from '../entra/errors.ts';
import { EntraHttpError, type EntraToken, type EntraTransport } from '../entra/types.ts';
import { UpstreamError, type BoundedFetch } from '../net/bounded-fetch.ts';
import type { BridgeMetrics, EntraCallResult, EntraLeg } from './port.ts';

const seconds = (startedMs: number) => (performance.now() - startedMs) / 1000;

/** What an Entra failure was, in the closed set of EntraCallResult. */
export function entraResultOf(e: unknown): EntraCallResult {
  if (e instanceof EntraHttpError)
    return e.status === 429 ? 'throttled' : e.status >= 500 || e.status === 0 ? 'server_error' : 'rejected';
  if (e instanceof UpstreamError) return e.kind === 'timeout' ? 'timeout' : 'network';
  return 'error';
}

/** The AADSTS label: a known code, 'other' for any code not on the allow-list, 'none' without one. */
export function aadstsLabel(e: unknown): string {
  if (!(e instanceof EntraHttpError) || e.aadsts === undefined) return 'none';
  return KNOWN_AADSTS_CODES.has(e.aadsts) ? e.aadsts : 'other';
}

export function instrumentEntraTransport(transport: EntraTransport, metrics: BridgeMetrics): EntraTransport {
  const observe = async (leg: EntraLeg, call: () => Promise<EntraToken>): Promise<EntraToken> => {
    const started = performance.now();
    try {
      const token = await call();
      metrics.entraRequest({ leg, result: 'success', aadsts: 'none', seconds: seconds(started) });
      return token;
    } catch (e) {
      metrics.entraRequest({ leg, result: entraResultOf(e), aadsts: aadstsLabel(e), seconds: seconds(started) });
      throw e;
    }
  };
  return {
    name: transport.name,
    blueprintExchangeToken: (p) => observe('leg1', () => transport.blueprintExchangeToken(p)),
    agentClientCredentials: (p) => observe('leg2', () => transport.agentClientCredentials(p)),
    onBehalfOf: (p) => observe('obo', () => transport.onBehalfOf(p)),
    userFederatedCredential: (p) => observe('user_fic', () => transport.userFederatedCredential(p)),
  };
}

/** Times the requests whose call site names an `upstream`; the others pass through unobserved. */
export function instrumentBoundedFetch(fetchPort: BoundedFetch, metrics: BridgeMetrics): BoundedFetch {
  return async (url, init) => {
    const upstream = init.upstream;
    if (upstream === undefined) return fetchPort(url, init);
    const started = performance.now();
    try {
      const res = await fetchPort(url, init);
      metrics.upstreamRequest({
        upstream,
        result: res.status >= 200 && res.status < 300 ? 'success' : 'error',
        seconds: seconds(started),
      });
      return res;
    } catch (e) {
      metrics.upstreamRequest({ upstream, result: 'error', seconds: seconds(started) });
      throw e;
    }
  };
}
