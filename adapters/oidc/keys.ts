/**
 * Where an issuer's signing keys come from: its OpenID Connect discovery document (the default), a
 * pinned `jwksUri`, or keys inline in the policy (air-gapped clusters). Remote key sets go through the
 * bounded fetch and jose's cache with one cooldown-bounded refetch on an unknown `kid`
 * (`remoteJwks`, src/verify/jwt.ts); discovery documents through the one expiring cache.
 *
 * A discovery document that names another issuer, is not JSON, or names a key set URL that is not
 * https is the issuer's failure, never the caller's: the error is thrown inside the key resolver, so
 * the shared verifier reports it as `verifier_unavailable` (src/verify/jose-errors.ts).
 */
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { JWKS_TIMEOUT_MS } from '../../src/constants.ts';
import type { BoundedFetch } from '../../src/net/bounded-fetch.ts';
import { keySetUrlProblem } from '../../src/net/loopback.ts';
import { ExpiringCache } from '../../src/util/expiring-cache.ts';
import { isRecord } from '../../src/util/is-record.ts';
import { remoteJwks } from '../../src/verify/jwt.ts';
import type { OidcIssuerConfig } from './config.ts';
import { DISCOVERY_CACHE_SEC, DISCOVERY_MAX_BYTES, DISCOVERY_PATH } from './constants.ts';

export interface KeySourceDeps {
  fetch: BoundedFetch;
  /** Seconds since the epoch. */
  clock: () => number;
  allowInsecureLoopback: boolean;
  /** jose's refetch cooldown on an unknown kid; tests shorten it. */
  jwksCooldownMs?: number;
}

export function issuerKeys(entry: OidcIssuerConfig, deps: KeySourceDeps): JWTVerifyGetKey {
  const cache = deps.jwksCooldownMs === undefined ? undefined : { cooldownMs: deps.jwksCooldownMs };
  if (entry.jwks !== undefined) return createLocalJWKSet(entry.jwks as JSONWebKeySet);
  if (entry.jwksUri !== undefined) return remoteJwks(entry.jwksUri, deps.fetch, cache);
  return discoveredKeys(entry.issuer, deps, cache);
}

/** OpenID Connect Discovery 1.0 §4: a path in the issuer keeps it, without a trailing "/", before the well-known suffix. */
export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}${DISCOVERY_PATH}`;
}

function discoveredKeys(
  issuer: string,
  deps: KeySourceDeps,
  cache: { cooldownMs: number } | undefined,
): JWTVerifyGetKey {
  const documents = new ExpiringCache<string>({ maxEntries: 1 });
  // One resolver per key set URL, so a document naming a new jwks_uri starts a fresh jose cache.
  let current: { jwksUri: string; keys: JWTVerifyGetKey } | undefined;
  const jwksUriOf = async (): Promise<string> => {
    const { value } = await documents.load(issuer, deps.clock(), () => fetchJwksUri(issuer, deps), {
      expiresAt: () => deps.clock() + DISCOVERY_CACHE_SEC,
    });
    return value;
  };
  return async (header, token) => {
    const jwksUri = await jwksUriOf();
    if (current?.jwksUri !== jwksUri) current = { jwksUri, keys: remoteJwks(jwksUri, deps.fetch, cache) };
    return current.keys(header, token);
  };
}

/** Reads the discovery document and returns its `jwks_uri`, after checking the document speaks for `issuer`. */
async function fetchJwksUri(issuer: string, deps: KeySourceDeps): Promise<string> {
  const url = discoveryUrl(issuer);
  const res = await deps.fetch(url, {
    timeoutMs: JWKS_TIMEOUT_MS,
    maxBytes: DISCOVERY_MAX_BYTES,
    headers: { accept: 'application/json' },
  });
  if (res.status !== 200) throw new Error(`discovery document ${url} answered HTTP ${res.status}`);
  let doc: unknown;
  try {
    doc = JSON.parse(res.text);
  } catch {
    throw new Error(`discovery document ${url} is not JSON`);
  }
  if (!isRecord(doc)) throw new Error(`discovery document ${url} is not a JSON object`);
  // OpenID Connect Discovery 1.0 §4.3: the issuer in the document MUST be identical to the one it was fetched for.
  if (doc.issuer !== issuer)
    throw new Error(
      `discovery document names issuer ${JSON.stringify(doc.issuer)}, not the configured ${JSON.stringify(issuer)}`,
    );
  const jwksUri = doc.jwks_uri;
  if (typeof jwksUri !== 'string') throw new Error(`discovery document ${url} has no jwks_uri`);
  const problem = keySetUrlProblem(jwksUri, 'jwks_uri', deps.allowInsecureLoopback);
  if (problem !== undefined) throw new Error(`discovery document ${url}: ${problem}`);
  return jwksUri;
}
