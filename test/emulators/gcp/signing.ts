/**
 * Google-shaped signing keys and a raw compact-JWS signer. The signer signs whatever header it is
 * given with RS256, so tests can build tokens whose header lies (`alg`, `kid`) on purpose.
 */
import { randomBytes } from 'node:crypto';
import { exportJWK, exportSPKI, generateKeyPair } from 'jose';

export interface GoogleSigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  /** As served in https://www.googleapis.com/oauth2/v3/certs. */
  readonly publicJwk: JsonWebKey & { kid: string };
  /** SPKI PEM, served in the v1 `{kid: pem}` map (google-auth-library accepts it: CONTRIBUTING.md#gcp-metadata). */
  readonly publicPem: string;
}

export async function generateGoogleSigningKey(): Promise<GoogleSigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
  // Google's kids are 40 hex digits.
  const kid = randomBytes(20).toString('hex');
  const { n, e } = await exportJWK(publicKey);
  return {
    kid,
    privateKey,
    publicJwk: { e, kty: 'RSA', alg: 'RS256', n, use: 'sig', kid },
    publicPem: await exportSPKI(publicKey),
  };
}

export function b64url(data: string | Uint8Array): string {
  return Buffer.from(data).toString('base64url');
}

export function signingInput(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
}

/** RS256 signature over `header.payload`, whatever the header claims. */
export async function signRs256(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  privateKey: CryptoKey,
): Promise<string> {
  const input = signingInput(header, payload);
  const signature = await crypto.subtle.sign('RSASSA-PKCS1-v1_5', privateKey, new TextEncoder().encode(input));
  return `${input}.${b64url(new Uint8Array(signature))}`;
}
