/**
 * How Entra obtains an external FIC issuer's signing keys (docs/entra.md#federated-credential-matching, docs/entra.md#what-the-emulator-reproduces): over HTTP,
 * from `{iss}/.well-known/openid-configuration` whose `issuer` must equal `iss`, then its `jwks_uri`.
 * https only (loopback http only when the emulator is told so), bounded (5 s, 64 KiB, no redirects),
 * only `use: "sig"` keys, at most the first 100, cached per issuer with a TTL.
 *
 * `use: "sig"`: "Microsoft Entra ID expects this parameter on the signing keys"
 * (https://learn.microsoft.com/entra/workload-id/workload-identity-federation-spiffe-spire). Whether
 * Entra ignores an unmarked key or accepts it is not documented; the emulator ignores it, so that
 * a JWKS without `use` fails here before it fails against Entra. UNSURE.
 */
import type { JWK } from 'jose';
import {
  ISSUER_CACHE_TTL_SEC,
  ISSUER_FETCH_MAX_BYTES,
  ISSUER_FETCH_TIMEOUT_MS,
  MAX_ISSUER_SIGNING_KEYS,
} from './constants.ts';
import { entraError, type EntraError } from './errors.ts';

/** The codes seen for an issuer Entra cannot fetch (see the 90061 row of errors.ts). */
export type UnreachableIssuerCode = 90061 | 50166 | 501661;

export interface IssuerKeysOptions {
  allowInsecureLoopback: boolean;
  clock: () => number;
  /** Which of the observed codes answers an unreachable or inconsistent issuer (default 90061). */
  unreachableCode?: UnreachableIssuerCode;
}

export interface IssuerKeys {
  keys: JWK[];
  /** True when served from cache; a caller that misses a `kid` may then ask once more with forceRefresh. */
  fromCache: boolean;
}

interface CacheEntry {
  keys: JWK[];
  fetchedAt: number;
}

class FetchFailure extends Error {}

export class IssuerKeyCache {
  readonly #opts: IssuerKeysOptions;
  readonly #entries = new Map<string, CacheEntry>();

  constructor(opts: IssuerKeysOptions) {
    this.#opts = opts;
  }

  flush(): void {
    this.#entries.clear();
  }

  /** Throws EntraError AADSTS90061/50166/501661 (unreachable, refused, inconsistent) or AADSTS900612 (unparsable keys). */
  async get(iss: string, forceRefresh = false): Promise<IssuerKeys> {
    const now = this.#opts.clock();
    const hit = this.#entries.get(iss);
    if (hit && !forceRefresh && now - hit.fetchedAt < ISSUER_CACHE_TTL_SEC) return { keys: hit.keys, fromCache: true };
    // A failed fetch is not cached: the next request tries again, as a retrying client would need.
    const keys = await this.#fetchKeys(iss);
    this.#entries.set(iss, { keys, fetchedAt: now });
    return { keys, fromCache: false };
  }

  async #fetchKeys(iss: string): Promise<JWK[]> {
    const issuerUrl = this.#allowedUrl(iss, 'issuer');
    const discoveryUrl = new URL(`${issuerUrl.href.replace(/\/$/, '')}/.well-known/openid-configuration`);
    const discovery = parseJson(await this.#get(discoveryUrl, 'discovery document'));
    if (!isObject(discovery)) throw this.#unreachable('The discovery document is not a JSON object.');
    // Byte-for-byte issuer equality (OIDC Discovery §4.3): blocks using one issuer's keys for another's tokens.
    if (discovery.issuer !== iss) {
      throw this.#unreachable(
        `The discovery document's issuer '${String(discovery.issuer)}' does not match the assertion issuer '${iss}'.`,
      );
    }
    if (typeof discovery.jwks_uri !== 'string') throw this.#unreachable('The discovery document has no jwks_uri.');
    const jwksUrl = this.#allowedUrl(discovery.jwks_uri, 'jwks_uri');
    const jwks = parseJson(await this.#get(jwksUrl, 'JWKS'));
    if (!isObject(jwks) || !Array.isArray(jwks.keys)) throw entraError(900612);
    return (jwks.keys as unknown[])
      .filter((k): k is JWK => isObject(k) && typeof k.kty === 'string' && k.use === 'sig')
      .slice(0, MAX_ISSUER_SIGNING_KEYS);
  }

  #unreachable(detail: string): EntraError {
    return entraError(this.#opts.unreachableCode ?? 90061, detail);
  }

  #allowedUrl(raw: string, what: string): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw this.#unreachable(`The ${what} '${raw}' is not an absolute URL.`);
    }
    if (url.protocol === 'https:') return url;
    if (url.protocol === 'http:' && this.#opts.allowInsecureLoopback && isLoopbackHost(url.hostname)) return url;
    // Real Entra only fetches https issuers (docs/architecture.md#the-bridge-as-an-oidc-issuer): http, even to loopback, fails like an unreachable host.
    throw this.#unreachable(`The ${what} '${raw}' is not an https URL.`);
  }

  async #get(url: URL, what: string): Promise<string> {
    try {
      return await boundedGet(url);
    } catch (e) {
      const reason = e instanceof FetchFailure ? e.message : 'network error';
      throw this.#unreachable(`Fetching the ${what} from ${url.host} failed: ${reason}.`);
    }
  }
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** GET with a timeout, a byte cap and no redirects; anything but a 2xx is a failure. */
async function boundedGet(url: URL): Promise<string> {
  const signal = AbortSignal.timeout(ISSUER_FETCH_TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'manual', signal, headers: { accept: 'application/json' } });
  } catch {
    throw new FetchFailure(signal.aborted ? `no answer within ${ISSUER_FETCH_TIMEOUT_MS} ms` : 'connection failed');
  }
  if (res.status < 200 || res.status > 299) {
    await res.body?.cancel();
    throw new FetchFailure(
      res.status >= 300 && res.status < 400 ? `redirect ${res.status} (not followed)` : `HTTP ${res.status}`,
    );
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > ISSUER_FETCH_MAX_BYTES) {
        await reader.cancel();
        throw new FetchFailure(`answer larger than ${ISSUER_FETCH_MAX_BYTES} bytes`);
      }
      chunks.push(value);
    }
  } catch (e) {
    if (e instanceof FetchFailure) throw e;
    throw new FetchFailure(signal.aborted ? `no complete answer within ${ISSUER_FETCH_TIMEOUT_MS} ms` : 'read failed');
  }
  return Buffer.concat(chunks).toString('utf8');
}
