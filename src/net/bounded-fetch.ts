/**
 * The one way the bridge talks to the outside: every outbound request has a timeout, a byte cap,
 * no redirect following, and https only (plain http is allowed for loopback hosts only, and only
 * when the deployment says so: the sandbox and tests). URLs always come from configuration,
 * never from a caller; the AWS adapter additionally checks its STS host allow-list.
 */

import { readCapped } from '../util/read-capped.ts';
import { isLoopbackHost } from './loopback.ts';

export interface BoundedRequestInit {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  maxBytes: number;
  /** Which kind of upstream this is, for the latency metrics (src/metrics/instrument.ts); never sent. */
  upstream?: 'sts' | 'jwks';
}

export interface BoundedResponse {
  status: number;
  headers: Headers;
  text: string;
}

export type BoundedFetch = (url: string, init: BoundedRequestInit) => Promise<BoundedResponse>;

export type UpstreamFailure = 'timeout' | 'too_large' | 'network' | 'scheme_not_allowed' | 'redirect';

export class UpstreamError extends Error {
  readonly kind: UpstreamFailure;
  readonly host: string;
  constructor(kind: UpstreamFailure, host: string, message: string) {
    super(message);
    this.name = 'UpstreamError';
    this.kind = kind;
    this.host = host;
  }
}

export interface BoundedFetchOptions {
  /** Allow http:// to loopback hosts (sandbox and tests only). */
  allowInsecureLoopback?: boolean;
  fetchImpl?: typeof fetch;
}

export function createBoundedFetch(options: BoundedFetchOptions = {}): BoundedFetch {
  const fetchImpl = options.fetchImpl ?? ((input, init) => fetch(input, init));
  return async (rawUrl, init) => {
    const url = new URL(rawUrl);
    const host = url.host;
    const httpsOk = url.protocol === 'https:';
    const loopbackHttpOk = url.protocol === 'http:' && options.allowInsecureLoopback === true && isLoopbackHost(url);
    if (!httpsOk && !loopbackHttpOk)
      throw new UpstreamError('scheme_not_allowed', host, `refusing ${url.protocol} to ${host}`);

    const signal = AbortSignal.timeout(init.timeoutMs);
    let res: Response;
    try {
      res = await fetchImpl(url, {
        method: init.method ?? 'GET',
        headers: init.headers ?? {},
        body: init.body ?? null,
        redirect: 'manual',
        signal,
      });
    } catch (e) {
      if (signal.aborted)
        throw new UpstreamError('timeout', host, `no answer from ${host} within ${init.timeoutMs} ms`);
      throw new UpstreamError('network', host, `cannot reach ${host}: ${(e as Error).message}`);
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      throw new UpstreamError(
        'redirect',
        host,
        `${host} answered a redirect (${res.status}); redirects are not followed`,
      );
    }
    try {
      const text = await readCappedText(res, init.maxBytes, host);
      return { status: res.status, headers: res.headers, text };
    } catch (e) {
      if (e instanceof UpstreamError) throw e;
      if (signal.aborted)
        throw new UpstreamError('timeout', host, `no complete answer from ${host} within ${init.timeoutMs} ms`);
      throw new UpstreamError('network', host, `reading the answer of ${host} failed: ${(e as Error).message}`);
    }
  };
}

async function readCappedText(res: Response, maxBytes: number, host: string): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel();
    throw new UpstreamError('too_large', host, `${host} answered ${declared} bytes, over the ${maxBytes}-byte cap`);
  }
  const bytes = await readCapped(res.body, maxBytes);
  if (!bytes) throw new UpstreamError('too_large', host, `${host} answered more than the ${maxBytes}-byte cap`);
  return new TextDecoder().decode(bytes);
}
