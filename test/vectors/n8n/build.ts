/**
 * n8n assertion vectors are data (CONTRIBUTING.md#tests): one JSON file per refused condition, each saying
 * how it differs from a good assertion (docs/platforms/n8n.md#assertion-format). Signatures and
 * times must be fresh, so this builder turns a description into a token with the test keys and a
 * pinned `now`. String values may name `${instance}`, `${other}`, `${workflow}`, `${issuer}` and `${instanceKid}`.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import type { ReasonCode } from '../../../src/errors.ts';

export interface N8nVectorSpec {
  /** What the vector breaks, in one sentence. */
  description: string;
  /** The only acceptable outcome. */
  expect: ReasonCode;
  /** Header overrides; `null` removes the parameter. */
  header?: Record<string, unknown>;
  /** Claim overrides; `null` removes the claim. */
  claims?: Record<string, unknown>;
  /** iat = now + iatOffsetSec (default 0). */
  iatOffsetSec?: number;
  /** exp = iat + lifetimeSec (default 60). */
  lifetimeSec?: number;
  /**
   * 'instance' (default): the registered ES256 key of `${instance}`, kid = its thumbprint.
   * 'foreign-key': an unregistered P-256 key, kid = its own thumbprint.
   * 'foreign-key-registered-kid': an unregistered P-256 key under the registered key's kid.
   * 'other-instance-key': the registered Ed25519 key of `${other}` (a key speaks for its instance only).
   * 'rs256' | 'hs256-public-jwk' | 'none': algorithms outside the allow-list.
   */
  signWith?:
    | 'instance'
    | 'foreign-key'
    | 'foreign-key-registered-kid'
    | 'other-instance-key'
    | 'rs256'
    | 'hs256-public-jwk'
    | 'none';
  /** Claims replaced after signing (the signature no longer matches). */
  tamper?: Record<string, unknown>;
}

export interface N8nVector extends N8nVectorSpec {
  name: string;
}

export interface VectorKey {
  privateKey: CryptoKey;
  kid: string;
  alg: 'ES256' | 'EdDSA';
  publicJwk: Record<string, string>;
}

export interface VectorEnv {
  now: number;
  issuer: string;
  instance: string;
  other: string;
  workflow: string;
  instanceKey: VectorKey;
  otherKey: VectorKey;
  foreignKey: VectorKey;
}

export function loadN8nVectors(): N8nVector[] {
  const dir = new URL('./', import.meta.url);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({
      name: f.replace(/\.json$/, ''),
      ...(JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as N8nVectorSpec),
    }));
}

function fill(value: unknown, env: VectorEnv): unknown {
  if (typeof value === 'string')
    return value
      .replaceAll('${instance}', env.instance)
      .replaceAll('${other}', env.other)
      .replaceAll('${workflow}', env.workflow)
      .replaceAll('${issuer}', env.issuer)
      .replaceAll('${instanceKid}', env.instanceKey.kid);
  if (Array.isArray(value)) return value.map((v) => fill(v, env));
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, env)]));
  return value;
}

function applyOverrides(
  base: Record<string, unknown>,
  overrides: Record<string, unknown> | undefined,
  env: VectorEnv,
): Record<string, unknown> {
  const out = { ...base };
  for (const [k, v] of Object.entries(overrides ?? {})) {
    if (v === null) delete out[k];
    else out[k] = fill(v, env);
  }
  return out;
}

const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A good assertion, as the community node would sign it, with the vector's changes applied. */
export async function buildN8nVector(spec: N8nVectorSpec, env: VectorEnv): Promise<string> {
  const iat = env.now + (spec.iatOffsetSec ?? 0);
  const baseClaims = {
    iss: `n8n:${env.instance}`,
    sub: `n8n:${env.instance}:workflow:${env.workflow}`,
    aud: `${env.issuer}/token`,
    iat,
    exp: iat + (spec.lifetimeSec ?? 60),
    jti: randomUUID(),
    n8n: { execution_id: '1042', workflow_name: 'Nightly report', node_name: 'Entra Agent Token' },
  };
  const signWith = spec.signWith ?? 'instance';
  const key =
    signWith === 'other-instance-key'
      ? env.otherKey
      : signWith === 'foreign-key' || signWith === 'foreign-key-registered-kid'
        ? env.foreignKey
        : env.instanceKey;
  const kid = signWith === 'foreign-key-registered-kid' ? env.instanceKey.kid : key.kid;
  const header = applyOverrides({ alg: key.alg, kid, typ: 'JWT' }, spec.header, env);
  const claims = applyOverrides(baseClaims, spec.claims, env);

  let token: string;
  switch (signWith) {
    case 'none':
      token = `${b64url({ ...header, alg: 'none' })}.${b64url(claims)}.`;
      break;
    case 'hs256-public-jwk': {
      // Key confusion: HMAC keyed with the registered public key's JSON.
      const secret = new TextEncoder().encode(JSON.stringify(env.instanceKey.publicJwk));
      token = await new SignJWT(claims).setProtectedHeader({ ...header, alg: 'HS256' }).sign(secret);
      break;
    }
    case 'rs256': {
      const { privateKey } = await generateKeyPair('RS256');
      token = await new SignJWT(claims).setProtectedHeader({ ...header, alg: 'RS256' }).sign(privateKey);
      break;
    }
    default: {
      // Signed with the key's own algorithm whatever the header says, so a header can lie about alg.
      const input = `${b64url(header)}.${b64url(claims)}`;
      const algorithm = key.alg === 'ES256' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'Ed25519' };
      const signature = await crypto.subtle.sign(algorithm, key.privateKey, new TextEncoder().encode(input));
      token = `${input}.${Buffer.from(signature).toString('base64url')}`;
    }
  }
  if (spec.tamper) {
    const [h, , s] = token.split('.') as [string, string, string];
    token = `${h}.${b64url({ ...claims, ...(fill(spec.tamper, env) as Record<string, unknown>) })}.${s}`;
  }
  return token;
}
