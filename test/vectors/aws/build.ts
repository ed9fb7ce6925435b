/**
 * AWS proof vectors are data (CONTRIBUTING.md#tests): one JSON file per broken condition, under
 * sigv4/ (kind 1, signed GetCallerIdentity) and web-identity/ (kind 2, GetWebIdentityToken JWT).
 * Signatures and dates must be fresh, so these builders turn a description into a proof signed
 * with the emulator's credentials or keys at a pinned `now`.
 */
import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Sha256 } from '@smithy/core/checksum';
import { HttpRequest } from '@smithy/core/protocols';
import { SignatureV4 } from '@smithy/signature-v4';
import { generateKeyPair, SignJWT } from 'jose';
import { AWS_AUDIENCE_HEADER, GET_CALLER_IDENTITY_FORM } from '../../../adapters/aws/constants.ts';
import type { ReasonCode } from '../../../src/errors.ts';
import type { StsEmulator } from '../../emulators/sts/index.ts';
import type { CredentialName } from '../../emulators/sts/model.ts';

interface VectorBase {
  /** What the vector breaks, in one sentence. */
  description: string;
  /** The only acceptable outcome. */
  expect: ReasonCode;
}

export interface SigV4VectorSpec extends VectorBase {
  /** STS calls the refusal may cost: 0 for everything the bridge can decide alone. */
  stsCalls: 0 | 1;
  /** A literal subject_token; everything else is then ignored. */
  literal?: string;
  /** The emulated credential that signs (default "sandbox"). */
  credential?: CredentialName;
  /** Sign with this secret instead of the credential's. */
  secretAccessKey?: string;
  /** Sign without the session token (and send none). */
  omitSessionToken?: boolean;
  /** Host signed for, named in the url and the host header (default the sandbox's regional host). */
  host?: string;
  /** Host header value, when it should differ from `host`. */
  hostHeader?: string;
  /** Credential scope region (default: the host's). */
  region?: string;
  /** Credential scope service (default sts). */
  service?: string;
  /** The serialized url; "{host}" is replaced. Default https://{host}/?<query>. */
  url?: string;
  method?: string;
  /** Query signed and sent (default Action=GetCallerIdentity&Version=2011-06-15; "" for none). */
  query?: string;
  body?: string;
  /** The audience header value; null: no audience header at all. Default: the bridge audience. */
  audience?: string | null;
  /** Add the audience header only after signing. */
  unsignedAudience?: boolean;
  /** Extra headers included in the signature. */
  signedHeaders?: Record<string, string>;
  /** Headers appended after signing. "{audience}" is replaced. */
  addHeaders?: { key: string; value: string }[];
  /** Header names removed after signing. */
  dropHeaders?: string[];
  /** x-amz-date = now + dateOffsetSec. */
  dateOffsetSec?: number;
  /** Sign with an x-amz-content-sha256 header (default true, as the AWS SDK signer does). */
  applyChecksum?: boolean;
  /** Replace the body after signing. */
  tamperBody?: string;
  /** Replace the Authorization header after signing; "{auth}" is the real one. */
  authorization?: string;
}

export interface WebIdentityVectorSpec extends VectorBase {
  /** Issuing account: the configured sandbox one (default) or one the bridge does not trust. */
  account?: 'sandbox' | 'unconfigured';
  /** Default: the bridge audience. */
  audience?: string;
  alg?: 'RS256' | 'ES384';
  /** iat = now + iatOffsetSec. */
  iatOffsetSec?: number;
  /** exp = iat + lifetimeSec (default 300). */
  lifetimeSec?: number;
  /** Claim overrides; null removes the claim. */
  claims?: Record<string, unknown>;
  /** Header overrides; null removes the parameter. */
  header?: Record<string, unknown>;
  /**
   * 'issuer' (default): the account issuer's current key. 'none': empty signature.
   * 'hs256': HMAC keyed with the issuer's public RSA JWK (key confusion). 'rs512': the RSA key
   * under alg RS512. 'foreign-key': a key the issuer never published, under its current kid.
   */
  signWith?: 'issuer' | 'none' | 'hs256' | 'rs512' | 'foreign-key';
}

export type Named<T> = T & { name: string };

export function loadVectors<T>(kind: 'sigv4' | 'web-identity'): Named<T>[] {
  const dir = new URL(`./${kind}/`, import.meta.url);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ name: f.replace(/\.json$/, ''), ...(JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as T) }));
}

export interface VectorEnv {
  now: number;
  audience: string;
  emulator: StsEmulator;
  /** The regional host the sandbox signs for. */
  host: string;
}

export async function buildSigV4Vector(spec: SigV4VectorSpec, env: VectorEnv): Promise<string> {
  if (spec.literal !== undefined) return spec.literal;
  const cred = env.emulator.credentials[spec.credential ?? 'sandbox'];
  const host = spec.host ?? env.host;
  const region = spec.region ?? regionOfHost(host);
  const query = spec.query ?? GET_CALLER_IDENTITY_FORM;
  const body = spec.body ?? '';
  const audience = spec.audience === undefined ? env.audience : spec.audience;

  const headers: Record<string, string> = { host: spec.hostHeader ?? host, ...spec.signedHeaders };
  if (audience !== null && !spec.unsignedAudience) headers[AWS_AUDIENCE_HEADER] = audience;
  if (body !== '' && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
    headers['content-type'] = 'application/x-www-form-urlencoded; charset=utf-8';
  const credentials = {
    accessKeyId: cred.accessKeyId,
    secretAccessKey: spec.secretAccessKey ?? cred.secretAccessKey,
    ...('sessionToken' in cred && !spec.omitSessionToken ? { sessionToken: cred.sessionToken } : {}),
  };
  const signer = new SignatureV4({
    service: spec.service ?? 'sts',
    region,
    credentials,
    sha256: Sha256,
    applyChecksum: spec.applyChecksum ?? true,
  });
  const signed = await signer.sign(
    new HttpRequest({
      method: spec.method ?? 'POST',
      protocol: 'https:',
      hostname: host,
      path: '/',
      query: queryObject(query),
      headers,
      body,
    }),
    {
      signingDate: new Date((env.now + (spec.dateOffsetSec ?? 0)) * 1000),
    },
  );

  let list = Object.entries(signed.headers).map(([key, value]) => ({ key, value: String(value) }));
  if (audience !== null && spec.unsignedAudience) list.push({ key: AWS_AUDIENCE_HEADER, value: audience });
  for (const h of spec.addHeaders ?? []) list.push({ key: h.key, value: h.value.replace('{audience}', env.audience) });
  const drop = new Set((spec.dropHeaders ?? []).map((h) => h.toLowerCase()));
  list = list.filter((h) => !drop.has(h.key.toLowerCase()));
  if (spec.authorization !== undefined) {
    list = list.map((h) =>
      h.key.toLowerCase() === 'authorization'
        ? { key: h.key, value: spec.authorization!.replace('{auth}', h.value) }
        : h,
    );
  }
  const url = spec.url !== undefined ? spec.url.replace('{host}', host) : `https://${host}/${query ? `?${query}` : ''}`;
  return encodeURIComponent(
    JSON.stringify({ url, method: spec.method ?? 'POST', headers: list, body: spec.tamperBody ?? body }),
  );
}

export async function buildWebIdentityVector(spec: WebIdentityVectorSpec, env: VectorEnv): Promise<string> {
  const credential =
    spec.account === 'unconfigured' ? env.emulator.credentials.otherAccount : env.emulator.credentials.sandbox;
  const iat = env.now + (spec.iatOffsetSec ?? 0);
  const good = await env.emulator.mintWebIdentityToken({
    credential,
    audiences: [spec.audience ?? env.audience],
    alg: spec.alg ?? 'RS256',
    iat,
    durationSec: spec.lifetimeSec ?? 300,
    claims: nullsToUndefined(spec.claims),
    header: nullsToUndefined(spec.header),
  });
  const [h, p] = good.split('.') as [string, string, string];
  const headerObj = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  const issuer = env.emulator.issuer(credential.account);
  switch (spec.signWith ?? 'issuer') {
    case 'issuer':
      return good;
    case 'none':
      return `${b64(JSON.stringify({ ...headerObj, alg: 'none' }))}.${b64(JSON.stringify(payload))}.`;
    case 'hs256': {
      const rsa = issuer.jwks().keys.find((k) => k.kty === 'RSA')!;
      const input = `${b64(JSON.stringify({ ...headerObj, alg: 'HS256', kid: rsa.kid }))}.${b64(JSON.stringify(payload))}`;
      return `${input}.${createHmac('sha256', JSON.stringify(rsa)).update(input).digest('base64url')}`;
    }
    case 'rs512': {
      const { privateKey } = await generateKeyPair('RS512', { modulusLength: 2048 });
      return new SignJWT(payload).setProtectedHeader({ ...headerObj, alg: 'RS512' }).sign(privateKey);
    }
    case 'foreign-key': {
      const { privateKey } = await generateKeyPair(
        spec.alg ?? 'RS256',
        spec.alg === 'ES384' ? {} : { modulusLength: 2048 },
      );
      return new SignJWT(payload).setProtectedHeader({ ...headerObj, alg: spec.alg ?? 'RS256' }).sign(privateKey);
    }
  }
}

/** The credential-scope region STS expects for a host, as an honest signer would pick it. */
export function regionOfHost(host: string): string {
  const m = /^sts\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/.exec(host);
  return m ? m[1]! : 'us-east-1';
}

function queryObject(query: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(query)) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

function nullsToUndefined(o: Record<string, unknown> | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o ?? {}).map(([k, v]) => [k, v === null ? undefined : v]));
}

function b64(s: string): string {
  return Buffer.from(s).toString('base64url');
}
