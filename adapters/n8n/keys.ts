/**
 * The n8n key registry: each instance's public keys, found by `kid`, where the kid of an assertion
 * must be the RFC 7638 thumbprint of the key that verifies it. A key serves only its own instance
 * (keysFor is called with the verified-to-be-registered `iss`), and only the algorithm its type allows.
 */
import { calculateJwkThumbprint, errors, exportJWK, importJWK, type CryptoKey, type JWTVerifyGetKey } from 'jose';
import type { N8nPublicJwk } from './config.ts';
import type { BoundedFetch } from '../../src/net/bounded-fetch.ts';
import { remoteJwks } from '../../src/verify/jwt.ts';

export type N8nAlgorithm = 'ES256' | 'EdDSA';
export const N8N_ALGORITHMS: readonly N8nAlgorithm[] = ['ES256', 'EdDSA'];

export type InstanceKeySource = { keys: readonly N8nPublicJwk[] } | { jwksUrl: string };

/** The one algorithm each accepted key type may be used with (RFC 7518 §3.4, RFC 8037 §3.1). */
export function algorithmOf(jwk: { kty?: unknown; crv?: unknown }): N8nAlgorithm | undefined {
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  return undefined;
}

/** RFC 7638 thumbprint (SHA-256) over the required public members only. */
export function jwkThumbprint(jwk: N8nPublicJwk): Promise<string> {
  return calculateJwkThumbprint(
    jwk.kty === 'EC' ? { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y } : { kty: 'OKP', crv: jwk.crv, x: jwk.x },
  );
}

interface RegisteredKey {
  thumbprint: string;
  alg: N8nAlgorithm;
  key: CryptoKey;
}

function noMatchingKey(): never {
  throw new errors.JWKSNoMatchingKey();
}

function requireKid(header: { kid?: unknown }): string {
  // The kid is how the bridge finds the key; without one there is nothing to match (RFC 7515 §4.1.4).
  if (typeof header.kid !== 'string' || header.kid.length === 0) throw new errors.JWSInvalid('kid is required');
  return header.kid;
}

/** `where` names the option for operators, e.g. "platforms.n8n.instances.prod". */
export function instanceKeyResolver(
  where: string,
  source: InstanceKeySource,
  fetchPort: BoundedFetch,
): JWTVerifyGetKey {
  return 'jwksUrl' in source ? remoteInstanceKeys(source.jwksUrl, fetchPort) : inlineInstanceKeys(where, source.keys);
}

function inlineInstanceKeys(where: string, jwks: readonly N8nPublicJwk[]): JWTVerifyGetKey {
  // Imported on first use (WebCrypto is async); a configured kid that is not the thumbprint is an
  // operator error and fails every proof of this instance closed (503 + audit detail) until fixed.
  let registry: Promise<RegisteredKey[]> | undefined;
  const load = () =>
    Promise.all(
      jwks.map(async (jwk, i) => {
        const alg = algorithmOf(jwk)!;
        const thumbprint = await jwkThumbprint(jwk);
        if (jwk.kid !== undefined && jwk.kid !== thumbprint)
          throw new Error(`${where}.keys[${i}].kid is not the key's RFC 7638 thumbprint (${thumbprint})`);
        const { kid: _kid, alg: _alg, use: _use, ...members } = jwk;
        return { thumbprint, alg, key: (await importJWK({ ...members, ext: true }, alg)) as CryptoKey };
      }),
    );
  return async (header) => {
    const kid = requireKid(header);
    registry ??= load();
    const found = (await registry).find((k) => k.thumbprint === kid);
    if (!found || found.alg !== header.alg) noMatchingKey();
    return found.key;
  };
}

function remoteInstanceKeys(jwksUrl: string, fetchPort: BoundedFetch): JWTVerifyGetKey {
  const remote = remoteJwks(jwksUrl, fetchPort);
  const described = new WeakMap<CryptoKey, { thumbprint: string; alg: N8nAlgorithm } | null>();
  return async (header, token) => {
    const kid = requireKid(header);
    // jose picks the served key by kid and alg family; we add the exact key type and the thumbprint rule.
    const key = (await remote(header, token)) as CryptoKey;
    let info = described.get(key);
    if (info === undefined) {
      info = await describe(key);
      described.set(key, info);
    }
    if (info === null || info.thumbprint !== kid || info.alg !== header.alg) noMatchingKey();
    return key;
  };
}

async function describe(key: CryptoKey): Promise<{ thumbprint: string; alg: N8nAlgorithm } | null> {
  try {
    const jwk = await exportJWK(key);
    const alg = algorithmOf(jwk);
    return alg === undefined ? null : { thumbprint: await calculateJwkThumbprint(jwk), alg };
  } catch {
    // A served key we cannot export cannot be shown to match its kid: treat it as absent.
    return null;
  }
}
