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

/** How to make a key the bridge accepts, for messages that refuse one. */
const GENERATE_HINT = 'generate one with `npx agent-id-bridge keys generate --out signing.jwk`';
/** PKCS#1 (RFC 8017 appendix A.1.2) → PKCS#8 (RFC 5208), the form WebCrypto imports. */
const PKCS1_TO_PKCS8 = 'openssl pkcs8 -topk8 -nocrypt -in key.pem -out key.pkcs8.pem';

/** Import a private RSA key given as a JWK (JSON) or a PKCS#8 PEM. */
export async function importSigningKey(option: string, material: string): Promise<SigningKey> {
  const text = material.trim();
  let privateKey: CryptoKey;
  let publicJwk: JWK;
  try {
    if (text.startsWith('{')) {
      const jwk = JSON.parse(text) as JWK;
      if (jwk.kty !== 'RSA')
        throw new KeyConfigError(
          option,
          `must be RSA: this is ${typeof jwk.kty === 'string' ? `an ${jwk.kty} key (kty "${jwk.kty}")` : 'a JWK without kty'}, and Entra accepts only RS256 from a FIC issuer; ${GENERATE_HINT}`,
        );
      if (typeof jwk.d !== 'string')
        throw new KeyConfigError(option, 'must be an RSA private key: this JWK is a public key (no "d")');
      privateKey = (await importJWK({ ...jwk, alg: 'RS256' }, 'RS256')) as CryptoKey;
      publicJwk = { kty: 'RSA', n: jwk.n!, e: jwk.e! };
    } else if (text.includes('-----BEGIN PRIVATE KEY-----')) {
      const algorithm = pkcs8Algorithm(text);
      if (algorithm !== undefined && algorithm !== 'RSA')
        throw new KeyConfigError(
          option,
          `must be RSA: this PEM holds an ${algorithm} key, and Entra accepts only RS256 from a FIC issuer; ${GENERATE_HINT}`,
        );
      // Import extractable once to derive the public half, then keep a non-extractable copy for signing.
      const extractable = await importPKCS8(text, 'RS256', { extractable: true });
      const full = await exportJWK(extractable);
      publicJwk = { kty: 'RSA', n: full.n!, e: full.e! };
      privateKey = await importPKCS8(text, 'RS256');
    } else {
      throw new KeyConfigError(option, unrecognisedKeyMessage(text));
    }
  } catch (e) {
    if (e instanceof KeyConfigError) throw e;
    throw new KeyConfigError(option, `cannot import the key (${(e as Error).name})`);
  }
  const bits = Math.floor((base64UrlLength(publicJwk.n ?? '') * 6) / 8) * 8;
  if (bits < MIN_RSA_BITS)
    throw new KeyConfigError(option, `RSA key is ${bits} bits; at least ${MIN_RSA_BITS} are required`);
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  return { kid, privateKey, publicJwk: { ...publicJwk, kid, alg: 'RS256', use: 'sig' } };
}

function base64UrlLength(s: string): number {
  return s.replace(/=+$/, '').length;
}

export async function loadIssuerKeys(
  current: { option: string; material: string },
  next?: { option: string; material: string },
): Promise<IssuerKeys> {
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

/** Why a value that is neither a JWK nor a PKCS#8 PEM was refused, with what to do (never quoting it). */
function unrecognisedKeyMessage(text: string): string {
  if (text.includes('-----BEGIN RSA PRIVATE KEY-----'))
    return `is a PKCS#1 PEM ("BEGIN RSA PRIVATE KEY"); convert it to PKCS#8 once with: ${PKCS1_TO_PKCS8}`;
  if (text.includes('-----BEGIN EC PRIVATE KEY-----'))
    return `must be RSA: this is an EC key ("BEGIN EC PRIVATE KEY"), and Entra accepts only RS256 from a FIC issuer; ${GENERATE_HINT}`;
  if (/-----BEGIN (?:RSA )?PUBLIC KEY-----/.test(text)) return 'must be an RSA private key: this PEM is a public key';
  const brace = text.indexOf('{');
  if (brace > 0 && text.slice(brace).includes('"kty"')) {
    return `has ${brace} characters of text before the key's JSON: did npm print its banner? use \`npm run -s keygen\` or \`npx agent-id-bridge keys generate --out signing.jwk\``;
  }
  return `expected an RSA private JWK (JSON) or a PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"); ${GENERATE_HINT}`;
}

/** Object identifiers of RFC 8017 (rsaEncryption), RFC 5480 (id-ecPublicKey) and RFC 8410 (Ed25519, Ed448), DER-encoded. */
const KEY_ALGORITHM_OIDS: readonly [string, Uint8Array][] = [
  ['RSA', new Uint8Array([0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01])],
  ['EC', new Uint8Array([0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01])],
  ['Ed25519', new Uint8Array([0x06, 0x03, 0x2b, 0x65, 0x70])],
  ['Ed448', new Uint8Array([0x06, 0x03, 0x2b, 0x65, 0x71])],
];

/** The algorithm a PKCS#8 PEM's PrivateKeyInfo names (RFC 5208 §5), if it is one of the above. */
function pkcs8Algorithm(pem: string): string | undefined {
  const body = pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  let der: Uint8Array;
  try {
    der = Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
  // The algorithm identifier sits in the first few dozen bytes of PrivateKeyInfo.
  const head = der.subarray(0, 64);
  for (const [name, oid] of KEY_ALGORITHM_OIDS) if (indexOf(head, oid) >= 0) return name;
  return undefined;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
