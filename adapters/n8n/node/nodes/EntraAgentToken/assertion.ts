/**
 * The instance assertion (agent-id-bridge docs/platforms/n8n.md#assertion-format): a compact
 * JWS signed with node:crypto only, so the package has no runtime dependencies.
 */
import { createHash, createPrivateKey, createPublicKey, randomUUID, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

export type InstanceKeyAlgorithm = 'ES256' | 'EdDSA';

export interface InstanceKey {
  readonly privateKey: KeyObject;
  readonly alg: InstanceKeyAlgorithm;
  /** RFC 7638 thumbprint of the public key: the `kid` the bridge looks the key up by. */
  readonly kid: string;
}

/** Longest lifetime the bridge accepts is 300 s; a fresh assertion is minted for every exchange. */
export const ASSERTION_LIFETIME_SEC = 120;

/** Accepts a PKCS#8 or SEC1 PEM, or a private JWK (JSON), of an EC P-256 or Ed25519 key. */
export function parseInstanceKey(text: string): InstanceKey | { problem: string } {
  const trimmed = text.trim();
  if (trimmed === '') return { problem: 'the private key is empty' };
  const privateKey = trimmed.startsWith('{') ? privateKeyFromJwk(trimmed) : privateKeyFromPem(trimmed);
  if (privateKey === undefined) return { problem: 'the private key is neither a PEM private key nor a private JWK' };
  const alg = algorithmOf(privateKey);
  if (!alg) return { problem: 'the private key must be EC P-256 (ES256) or Ed25519 (EdDSA)' };
  return { privateKey, alg, kid: thumbprintOf(privateKey) };
}

function privateKeyFromJwk(text: string): KeyObject | undefined {
  try {
    const jwk = JSON.parse(text) as Record<string, unknown>;
    if (typeof jwk.d !== 'string') return undefined;
    const members = Object.fromEntries(Object.entries(jwk).filter(([k]) => ['kty', 'crv', 'x', 'y', 'd'].includes(k)));
    return createPrivateKey({ key: members, format: 'jwk' });
  } catch {
    return undefined;
  }
}

function privateKeyFromPem(text: string): KeyObject | undefined {
  try {
    // Restore line breaks lost when a PEM is pasted into a single-line field.
    const key = createPrivateKey(text.replace(/\\n/g, '\n'));
    return key.type === 'private' ? key : undefined;
  } catch {
    return undefined;
  }
}

function algorithmOf(key: KeyObject): InstanceKeyAlgorithm | undefined {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  return undefined;
}

/** The public JWK as the bridge's configuration wants it. */
export function publicJwkOf(key: KeyObject): Record<string, string> {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const jwk = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  return jwk.kty === 'EC' ? { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y } : { kty: 'OKP', crv: jwk.crv, x: jwk.x };
}

/** RFC 7638 §3: SHA-256 over the required members, in lexicographic order, no whitespace. */
export function thumbprintOf(key: KeyObject): string {
  const jwk = publicJwkOf(key);
  const canonical =
    jwk.kty === 'EC'
      ? JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })
      : JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
  return createHash('sha256').update(canonical).digest('base64url');
}

export interface AssertionInput {
  instanceId: string;
  workflowId: string;
  /** `<bridge issuer>/token`. */
  audience: string;
  /** Seconds since the epoch. */
  now: number;
  /** Audit-only context; the bridge never authorizes on it. */
  context?: { executionId?: string; workflowName?: string; nodeName?: string };
}

export function signAssertion(key: InstanceKey, input: AssertionInput): string {
  const iss = `n8n:${input.instanceId}`;
  const n8n: Record<string, string> = {};
  if (input.context?.executionId) n8n.execution_id = input.context.executionId;
  if (input.context?.workflowName) n8n.workflow_name = input.context.workflowName;
  if (input.context?.nodeName) n8n.node_name = input.context.nodeName;
  const header = { alg: key.alg, kid: key.kid, typ: 'JWT' };
  const payload = {
    iss,
    sub: `${iss}:workflow:${input.workflowId}`,
    aud: input.audience,
    iat: input.now,
    exp: input.now + ASSERTION_LIFETIME_SEC,
    jti: randomUUID(),
    ...(Object.keys(n8n).length > 0 ? { n8n } : {}),
  };
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  // JWS ES256 signatures are the raw r||s pair, not DER (RFC 7518 §3.4).
  const signature =
    key.alg === 'ES256'
      ? sign('sha256', Buffer.from(signingInput), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
      : sign(null, Buffer.from(signingInput), key.privateKey);
  return `${signingInput}.${signature.toString('base64url')}`;
}

function b64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}
