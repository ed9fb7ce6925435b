/**
 * Offline SigV4 verification, as STS does it, with the traps of CONTRIBUTING.md#aws-sts handled:
 * (1) x-amz-content-sha256 is checked against the body here, because the signer's payload-hash
 * shortcut trusts it; (2) re-signing uses applyChecksum:false so no header is added; (3) only
 * the headers listed in SignedHeaders take part. Signatures are compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Sha256 } from '@smithy/core/checksum';
import { HttpRequest } from '@smithy/core/protocols';
import { SignatureV4 } from '@smithy/signature-v4';
import type { EmulatedCredential } from './model.ts';
import { STS_ERRORS, type StsError } from './responses.ts';

export interface IncomingStsRequest {
  method: string;
  /** The host the caller addressed (Host, or X-Forwarded-Host when the bridge forwards). */
  host: string;
  path: string;
  query: URLSearchParams;
  /** Lower-case names. */
  headers: ReadonlyMap<string, string>;
  body: string;
}

/** STS refuses requests signed more than 15 minutes before or after its clock. */
const MAX_SKEW_SEC = 15 * 60;
const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/([0-9]{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

export async function verifySigV4(
  req: IncomingStsRequest,
  opts: { expectedRegion: string; now: number; lookup: (accessKeyId: string) => EmulatedCredential | undefined },
): Promise<{ ok: true; credential: EmulatedCredential } | { ok: false; error: StsError }> {
  const authorization = req.headers.get('authorization');
  if (authorization === undefined) return { ok: false, error: STS_ERRORS.missingAuthenticationToken() };
  const m = AUTHORIZATION.exec(authorization.trim());
  if (!m)
    return {
      ok: false,
      error: STS_ERRORS.incompleteSignature(
        'Authorization header requires Credential, SignedHeaders and Signature parameters.',
      ),
    };
  const [, accessKeyId, scopeDate, region, service, signedList, signature] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (service !== 'sts')
    return {
      ok: false,
      error: STS_ERRORS.signatureDoesNotMatch(`Credential should be scoped to correct service: 'sts'. `),
    };
  if (region !== opts.expectedRegion)
    return {
      ok: false,
      error: STS_ERRORS.signatureDoesNotMatch(`Credential should be scoped to a valid region, not '${region}'. `),
    };

  const amzDate = req.headers.get('x-amz-date');
  const signedAt = amzDate === undefined ? undefined : parseAmzDate(amzDate);
  if (amzDate === undefined || signedAt === undefined)
    return {
      ok: false,
      error: STS_ERRORS.incompleteSignature(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
      ),
    };
  if (amzDate.slice(0, 8) !== scopeDate)
    return {
      ok: false,
      error: STS_ERRORS.signatureDoesNotMatch(
        `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scopeDate}' != '${amzDate.slice(0, 8)}'`,
      ),
    };
  if (opts.now - signedAt > MAX_SKEW_SEC) {
    return {
      ok: false,
      error: STS_ERRORS.signatureDoesNotMatch(
        `Signature expired: ${amzDate} is now earlier than ${amzStamp(opts.now - MAX_SKEW_SEC)} (${amzStamp(opts.now)} - 15 min.)`,
      ),
    };
  }
  if (signedAt - opts.now > MAX_SKEW_SEC) {
    return {
      ok: false,
      error: STS_ERRORS.signatureDoesNotMatch(
        `Signature not yet current: ${amzDate} is still later than ${amzStamp(opts.now + MAX_SKEW_SEC)} (${amzStamp(opts.now)} + 15 min.)`,
      ),
    };
  }

  const credential = opts.lookup(accessKeyId);
  if (!credential) return { ok: false, error: STS_ERRORS.invalidClientTokenId() };
  const token = req.headers.get('x-amz-security-token');
  if (
    credential.sessionToken !== undefined
      ? token === undefined || !constantTimeEqual(token, credential.sessionToken)
      : token !== undefined
  ) {
    return { ok: false, error: STS_ERRORS.invalidClientTokenId() };
  }

  const signedHeaders = signedList.split(';');
  if (!signedHeaders.includes('host'))
    return {
      ok: false,
      error: STS_ERRORS.signatureDoesNotMatch("'Host' must be a 'SignedHeader' in the AWS Authorization."),
    };
  const only: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = name === 'host' ? req.host : req.headers.get(name);
    if (value === undefined)
      return { ok: false, error: STS_ERRORS.signatureDoesNotMatch(STS_ERRORS.SIGNATURE_MISMATCH_TEXT) };
    only[name] = value;
  }
  const bodyHash = createHash('sha256').update(req.body).digest('hex');
  const claimedHash = req.headers.get('x-amz-content-sha256');
  if (claimedHash !== undefined && claimedHash.trim() !== bodyHash)
    return { ok: false, error: STS_ERRORS.signatureDoesNotMatch(STS_ERRORS.SIGNATURE_MISMATCH_TEXT) };

  const resigned = await new SignatureV4({
    service,
    region,
    // No session token here: it takes part only if the caller listed it in SignedHeaders.
    credentials: { accessKeyId, secretAccessKey: credential.secretAccessKey },
    sha256: Sha256,
    applyChecksum: false,
  }).sign(
    new HttpRequest({
      method: req.method,
      protocol: 'https:',
      hostname: req.host,
      path: req.path,
      query: queryObject(req.query),
      headers: only,
      body: req.body,
    }),
    { signingDate: new Date(signedAt * 1000), signableHeaders: new Set(signedHeaders) },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(resigned.headers.authorization))?.[1] ?? '';
  if (!constantTimeEqual(expected, signature))
    return { ok: false, error: STS_ERRORS.signatureDoesNotMatch(STS_ERRORS.SIGNATURE_MISMATCH_TEXT) };
  if (credential.expiresAt !== undefined && credential.expiresAt <= opts.now)
    return { ok: false, error: STS_ERRORS.expiredToken() };
  return { ok: true, credential };
}

function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function queryObject(q: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const key of new Set(q.keys())) {
    const all = q.getAll(key);
    out[key] = all.length === 1 ? all[0]! : all;
  }
  return out;
}

export function parseAmzDate(value: string): number | undefined {
  const m = /^([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z$/.exec(value.trim());
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, s) / 1000;
}

export function amzStamp(unixSec: number): string {
  return new Date(unixSec * 1000)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}
