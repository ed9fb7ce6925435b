/**
 * GCP proof vectors are data (CONTRIBUTING.md#tests): one JSON file per broken condition, each describing
 * how it differs from a good metadata-server ID token. Signatures and times must be fresh, so this
 * builder turns a description into a token using the emulator's current key and a pinned `now`.
 */
import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { ReasonCode } from '../../../src/errors.ts';
import type { GcpEmulator } from '../../emulators/gcp/index.ts';
import { b64url, generateGoogleSigningKey, signingInput, signRs256 } from '../../emulators/gcp/signing.ts';

export interface GcpVectorSpec {
  /** What the vector breaks, in one sentence. */
  description: string;
  /** The only acceptable outcome. */
  expect: ReasonCode;
  /** A literal proof, used as is; the other fields are then ignored. */
  literal?: string;
  format?: 'standard' | 'full';
  /** Defaults to the bridge audience. */
  audience?: string;
  /** Claim overrides; `null` removes the claim. */
  claims?: Record<string, unknown>;
  /** Header overrides; `null` removes the parameter. */
  header?: Record<string, unknown>;
  /** iat = now + iatOffsetSec (default 0). */
  iatOffsetSec?: number;
  /** exp = iat + lifetimeSec (default 3600). */
  lifetimeSec?: number;
  /** Adds nbf = now + nbfOffsetSec. */
  nbfOffsetSec?: number;
  /** Pads the payload with a claim of this many characters. */
  padBytes?: number;
  /**
   * 'emulator' (default): RS256 with the emulator's current key.
   * 'none': empty signature. 'hs256-public-pem': HMAC keyed with the served public PEM (key confusion).
   * 'foreign-key': RS256 with a key Google never published, under the current kid.
   */
  signWith?: 'emulator' | 'none' | 'hs256-public-pem' | 'foreign-key';
  /** Replace `sub` after signing. */
  tamperSub?: string;
}

export interface GcpVector extends GcpVectorSpec {
  name: string;
}

export function loadGcpVectors(): GcpVector[] {
  const dir = new URL('./', import.meta.url);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({
      name: f.replace(/\.json$/, ''),
      ...(JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as GcpVectorSpec),
    }));
}

export async function buildGcpVector(
  spec: GcpVectorSpec,
  emulator: GcpEmulator,
  env: { now: number; audience: string },
): Promise<string> {
  if (spec.literal !== undefined) return spec.literal;
  const iat = env.now + (spec.iatOffsetSec ?? 0);
  const claims: Record<string, unknown> = {
    ...(fillAudience(nullsToUndefined(spec.claims), env.audience) as Record<string, unknown> | undefined),
  };
  if (spec.nbfOffsetSec !== undefined) claims.nbf = env.now + spec.nbfOffsetSec;
  if (spec.padBytes !== undefined) claims.pad = 'x'.repeat(spec.padBytes);
  const header = nullsToUndefined(spec.header);
  const good = await emulator.mintIdToken({
    audience: spec.audience ?? env.audience,
    format: spec.format ?? 'full',
    claims,
    header,
    iat,
    exp: iat + (spec.lifetimeSec ?? 3600),
  });
  const [encodedHeader, encodedPayload] = good.split('.') as [string, string, string];
  const headerObj = decodeSegment(encodedHeader);
  const payloadObj = decodeSegment(encodedPayload);

  let token = good;
  switch (spec.signWith ?? 'emulator') {
    case 'emulator':
      break;
    case 'none':
      token = `${signingInput(headerObj, payloadObj)}.`;
      break;
    case 'hs256-public-pem': {
      const input = signingInput(headerObj, payloadObj);
      token = `${input}.${createHmac('sha256', emulator.signingKey.publicPem).update(input).digest('base64url')}`;
      break;
    }
    case 'foreign-key':
      token = await signRs256(headerObj, payloadObj, (await generateGoogleSigningKey()).privateKey);
      break;
  }
  if (spec.tamperSub !== undefined) {
    const [h, , s] = token.split('.') as [string, string, string];
    token = `${h}.${b64url(JSON.stringify({ ...payloadObj, sub: spec.tamperSub }))}.${s}`;
  }
  return token;
}

function decodeSegment(segment: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** Claim strings may name `${audience}`, the bridge audience of the run. */
function fillAudience(value: unknown, audience: string): unknown {
  if (typeof value === 'string') return value.replaceAll('${audience}', audience);
  if (Array.isArray(value)) return value.map((v) => fillAudience(v, audience));
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillAudience(v, audience)]));
  return value;
}

function nullsToUndefined(o: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  return o === undefined
    ? undefined
    : Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v === null ? undefined : v]));
}
