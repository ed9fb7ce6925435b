/**
 * The bridge's signing keys: RS256 (the only algorithm Entra supports for FIC issuers, docs/entra.md#federated-credential-matching),
 * 2048 bits or more, `kid` = RFC 7638 JWK thumbprint. A current key signs; a next key is published
 * in the JWKS ahead of rotation (docs/operations.md#rotating-the-signing-key).
 */
import { calculateJwkThumbprint, exportJWK, importJWK, importPKCS8, type JWK } from 'jose';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  /** Public JWK as published: kty, n, e, kid, alg, use. */
  publicJwk: JWK;
}

export interface IssuerKeys {
  current: SigningKey;
  next: SigningKey | undefined;
}

const MIN_RSA_BITS = 2048;

/** Thrown with the option name so configuration errors point at the right variable. */
export class KeyConfigError extends Error {
  readonly option: string;
  constructor(option: string, message: string) {
    super(`${option}: ${message}`);
    this.name = 'KeyConfigError';
    this.option = option;
  }
}

/** Import a private RSA key given as a JWK (JSON) or a PKCS#8 PEM. */
export async function importSigningKey(option: string, material: string): Promise<SigningKey> {
  const text = material.trim();
  let privateKey: CryptoKey;
  let publicJwk: JWK;
  try {
    if (text.startsWith('{')) {
      const jwk = JSON.parse(text) as JWK;
      if (jwk.kty !== 'RSA' || typeof jwk.d !== 'string') throw new KeyConfigError(option, 'must be an RSA private key (kty "RSA" with "d")');
      privateKey = (await importJWK({ ...jwk, alg: 'RS256' }, 'RS256')) as CryptoKey;
      publicJwk = { kty: 'RSA', n: jwk.n!, e: jwk.e! };
    } else if (text.includes('-----BEGIN PRIVATE KEY-----')) {
      // Import extractable once to derive the public half, then keep a non-extractable copy for signing.
      const extractable = await importPKCS8(text, 'RS256', { extractable: true });
      const full = await exportJWK(extractable);
      publicJwk = { kty: 'RSA', n: full.n!, e: full.e! };
      privateKey = await importPKCS8(text, 'RS256');
    } else {
      throw new KeyConfigError(option, 'expected an RSA private JWK (JSON) or a PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----")');
    }
  } catch (e) {
    if (e instanceof KeyConfigError) throw e;
    throw new KeyConfigError(option, `cannot import the key (${(e as Error).name})`);
  }
  const bits = Math.floor((base64UrlLength(publicJwk.n ?? '') * 6) / 8) * 8;
  if (bits < MIN_RSA_BITS) throw new KeyConfigError(option, `RSA key is ${bits} bits; at least ${MIN_RSA_BITS} are required`);
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  return { kid, privateKey, publicJwk: { ...publicJwk, kid, alg: 'RS256', use: 'sig' } };
}

function base64UrlLength(s: string): number {
  return s.replace(/=+$/, '').length;
}

export async function loadIssuerKeys(current: { option: string; material: string }, next?: { option: string; material: string }): Promise<IssuerKeys> {
  const cur = await importSigningKey(current.option, current.material);
  const nxt = next ? await importSigningKey(next.option, next.material) : undefined;
  if (nxt && nxt.kid === cur.kid) throw new KeyConfigError(next!.option, 'is the same key as the current signing key');
  return { current: cur, next: nxt };
}

/** Generate a fresh RS256 key as a private JWK string (sandbox, tests and the keygen command). */
export async function generateSigningKeyJwk(): Promise<string> {
  const { privateKey } = (await crypto.subtle.generateKey(
    { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    true,
    ['sign', 'verify'],
  )) as CryptoKeyPair;
  return JSON.stringify(await exportJWK(privateKey));
}
