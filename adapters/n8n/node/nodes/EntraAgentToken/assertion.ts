/**
 * The instance assertion (agent-id-bridge docs/platforms/n8n.md#assertion-format): a compact
 * JWS signed with node:crypto only, so the package has no runtime dependencies.
 */
import { createHash, createPrivateKey, createPublicKey, randomUUID, sign, verify } from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';

export type InstanceKeyAlgorithm = 'ES256' | 'EdDSA';

export interface InstanceKey {
  readonly privateKey: KeyObject;
  readonly alg: InstanceKeyAlgorithm;
  /** RFC 7638 thumbprint of the public key: the `kid` the bridge looks the key up by. */
  readonly kid: string;
}

/** Longest lifetime the bridge accepts is 300 s; a fresh assertion is minted for every exchange. */
export const ASSERTION_LIFETIME_SEC = 120;

/** What npm run n8n:keygen makes and the bridge accepts (docs/platforms/n8n.md#assertion-format). */
const ACCEPTED_KEYS =
  'the bridge accepts EC P-256 (ES256) or Ed25519 (EdDSA) instance keys only, as "npm run n8n:keygen" of agent-id-bridge makes them';

/**
 * Accepts a PKCS#8 or SEC1 PEM, or a private JWK (JSON), of an EC P-256 or Ed25519 key. A problem
 * reads after "Private Key: " and says what to paste instead; it never quotes the key.
 */
export function parseInstanceKey(text: string): InstanceKey | { problem: string } {
  const trimmed = text.trim();
  if (trimmed === '') return { problem: 'it is empty' };
  const parsed = trimmed.startsWith('{')
    ? privateKeyFromJwk(trimmed)
    : trimmed.includes('-----BEGIN')
      ? privateKeyFromPem(trimmed)
      : {
          problem:
            'it is not a key. Paste the PEM that "npm run n8n:keygen" printed ("-----BEGIN PRIVATE KEY-----" …) or a private JWK (JSON with "kty", "crv" and "d")',
        };
  if ('problem' in parsed) return parsed;
  const alg = algorithmOf(parsed.privateKey);
  if (!alg) return { problem: `it is ${describeKeyType(parsed.privateKey)}; ${ACCEPTED_KEYS}` };
  // A key whose public part belongs to another key would sign assertions no registered key verifies.
  if (!publicHalfMatches(parsed.privateKey, alg))
    return { problem: 'its public members ("x", "y") are not the public half of its "d": the JWK mixes two keys' };
  const kid = thumbprintOf(parsed.privateKey);
  const jwk = parsed.jwk;
  if (jwk !== undefined) {
    // A kid that is not the thumbprint was typed in or belongs to another key (RFC 7638 §3).
    if (jwk.kid !== undefined && jwk.kid !== kid)
      return {
        problem: `its "kid" is not the RFC 7638 thumbprint of the key (${kid}); the bridge finds keys by thumbprint, so this JWK was edited or mixes two keys`,
      };
  }
  return { privateKey: parsed.privateKey, alg, kid };
}

type Parsed = { privateKey: KeyObject; jwk?: Record<string, unknown> } | { problem: string };

const PUBLIC_HALF =
  'paste the PRIVATE key (what "npm run n8n:keygen" wrote to stdout); only its public half is registered with the bridge';

function privateKeyFromJwk(text: string): Parsed {
  let jwk: Record<string, unknown>;
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return { problem: 'it starts with "{" but is not a JSON object (a JWK)' };
    jwk = value as Record<string, unknown>;
  } catch {
    return { problem: 'it starts with "{" but is not valid JSON (a JWK)' };
  }
  if (jwk.kty !== 'EC' && jwk.kty !== 'OKP')
    return { problem: `it is a JWK of key type ${JSON.stringify(jwk.kty ?? null)}; ${ACCEPTED_KEYS}` };
  if (jwk.crv !== 'P-256' && jwk.crv !== 'Ed25519')
    return { problem: `it is a JWK on curve ${JSON.stringify(jwk.crv ?? null)}; ${ACCEPTED_KEYS}` };
  if (typeof jwk.d !== 'string') return { problem: `it is a public JWK (it has no "d" member); ${PUBLIC_HALF}` };
  const members = Object.fromEntries(Object.entries(jwk).filter(([k]) => ['kty', 'crv', 'x', 'y', 'd'].includes(k)));
  try {
    return { privateKey: createPrivateKey({ key: members as JsonWebKey, format: 'jwk' }), jwk };
  } catch {
    return { problem: 'it is a JWK whose members do not form a valid private key' };
  }
}

function privateKeyFromPem(text: string): Parsed {
  // Restore line breaks lost when a PEM is pasted into a single-line field.
  const pem = text.replace(/\\n/g, '\n');
  if (pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----'))
    return {
      problem:
        'it is an encrypted PEM; paste the unencrypted PKCS#8 PEM that "npm run n8n:keygen" prints (n8n encrypts stored credentials itself)',
    };
  if (pem.includes('-----BEGIN CERTIFICATE-----'))
    return { problem: `it is a certificate, not a private key; ${PUBLIC_HALF}` };
  try {
    const key = createPrivateKey(pem);
    if (key.type === 'private') return { privateKey: key };
  } catch {
    // Not a private key: perhaps its public half.
  }
  try {
    createPublicKey(pem);
    return { problem: `it is a public key; ${PUBLIC_HALF}` };
  } catch {
    return { problem: 'it looks like a PEM but could not be read as a private key (damaged or cut off?)' };
  }
}

/** OpenSSL takes a JWK's x/y as given: a signature made with d must verify with them. */
function publicHalfMatches(privateKey: KeyObject, alg: InstanceKeyAlgorithm): boolean {
  const probe = Buffer.from('agent-id-bridge instance key check');
  const digest = alg === 'ES256' ? 'sha256' : null;
  try {
    return verify(digest, probe, createPublicKey(privateKey), sign(digest, probe, privateKey));
  } catch {
    return false;
  }
}

function algorithmOf(key: KeyObject): InstanceKeyAlgorithm | undefined {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  return undefined;
}

function describeKeyType(key: KeyObject): string {
  if (key.asymmetricKeyType === 'ec') return `an EC key on curve ${key.asymmetricKeyDetails?.namedCurve ?? 'unknown'}`;
  return `an ${String(key.asymmetricKeyType ?? 'unknown').toUpperCase()} key`;
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
  /** The credential's Project ID: the project_id claim, which rules may require. */
  projectId?: string;
  /** How n8n runs this execution (IExecuteFunctions.getMode(): manual, trigger, webhook…): execution_mode. */
  executionMode?: string;
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
    ...(input.projectId ? { project_id: input.projectId } : {}),
    ...(input.executionMode ? { execution_mode: input.executionMode } : {}),
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
