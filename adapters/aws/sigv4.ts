/**
 * Header and SigV4-scope checks of a signed GetCallerIdentity (the second half of
 * docs/platforms/aws.md#kind-1-wire-format). The bridge cannot check the signature itself (it never holds the workload's secret);
 * STS does, over exactly the headers listed in SignedHeaders. So everything the bridge relies on —
 * host, date and its audience header — must be in that list, present once, and hold the value the
 * bridge expects. Pure: plain data and `now` in, a checked request or a refusal out.
 */
import { sha256Hex } from '../../src/util/hash.ts';
import { AWS_AUDIENCE_HEADER, AWS_FUTURE_SKEW_SEC } from './constants.ts';
import { accept, refuse, type Result } from '../../src/verify/contract.ts';
import type { CheckedTarget, SerializedRequest } from './signed-request.ts';
import { regionScopeAdvice, type StsEndpoint } from './sts-hosts.ts';

export interface Authorization {
  readonly accessKeyId: string;
  readonly scopeDate: string;
  readonly scopeRegion: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
}

/** A request that passed every check the bridge can make without STS. */
export interface CheckedSignedRequest extends RebuiltRequest {
  /** x-amz-date as unix seconds. */
  readonly signedAt: number;
}

export interface BindingPolicy {
  /** The bridge's audience: the value the audience header must carry. */
  audience: string;
  now: number;
  maxRequestAgeSec: number;
  allowed: ReadonlyMap<string, StsEndpoint>;
}

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([A-Z0-9]{16,128})\/([0-9]{8})\/([a-z0-9-]{1,32})\/([a-z0-9-]{1,32})\/aws4_request, ?SignedHeaders=([a-z0-9;-]{1,2048}), ?Signature=([0-9a-f]{64})$/;
const AMZ_DATE = /^([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z$/;

/** X-Amz-* headers that cannot change what STS does (Vault's default allow-list; docs/platforms/aws.md#what-the-bridge-checks-and-why). */
const AMZ_HEADERS = new Set(['x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256', 'x-amz-user-agent']);
/** Headers the bridge will not forward as signed: hop-by-hop, framing, and forwarding metadata. */
const UNFORWARDABLE = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'content-encoding',
  'forwarded',
  'via',
  'authorization',
]);
/** Accept values under which STS answers a shape the bridge parses. */
const ACCEPTS = new Set(['application/json', 'application/xml', 'text/xml', '*/*']);
const FORM_CONTENT_TYPE = /^application\/x-www-form-urlencoded(?:\s*;\s*charset=utf-8)?$/i;

/**
 * Headers a proof may carry without signing them, because no SigV4 signer signs them or because
 * HTTP needs them to carry the request. Any other unsigned header is refused: it cannot change what
 * STS does (the bridge would not forward it), so it could only make one signed request look like
 * many different proofs.
 */
const UNSIGNED_TOLERATED = new Set([
  // Carries the signature itself.
  'authorization',
  // The session token is part of the credential; STS reads it whether or not it is signed. Forwarded.
  'x-amz-security-token',
  // Framing: the bridge's HTTP client computes it from the body it sends. Not forwarded.
  'content-length',
  // Never signed by the AWS SDK signers (UNSIGNABLE headers of smithy's signature-v4); not forwarded.
  'user-agent',
  'x-amzn-trace-id',
]);

/**
 * The request the bridge would send to STS, rebuilt from the proof: https://<target host>/, the
 * checked query or body, and only the headers STS verifies or needs. It is both what the bridge
 * forwards and the identity under which verified proofs are cached: two proofs with the same
 * rebuilt request are one request to STS.
 */
export interface RebuiltRequest extends CheckedTarget {
  /** Headers to forward (lower-case names): the signed ones, the credential, Authorization. */
  readonly forwardHeaders: Readonly<Record<string, string>>;
  readonly authorization: Authorization;
  /** Every header of the proof, lower-case names, for the binding checks. */
  readonly headers: ReadonlyMap<string, string>;
}

/** Pure: headers once each, Authorization parsed, signed headers present and forwardable, no stray unsigned header. */
export function rebuildSignedRequest(req: SerializedRequest, target: CheckedTarget): Result<RebuiltRequest> {
  const headers = new Map<string, string>();
  for (const { key, value } of req.headers) {
    const name = key.toLowerCase();
    if (headers.has(name))
      return refuse('proof_malformed', `header ${name} appears more than once`, { fields: { header: name } });
    headers.set(name, value);
  }
  for (const name of headers.keys()) {
    if (name.startsWith('x-amz-') && !AMZ_HEADERS.has(name))
      return refuse('proof_malformed', `header ${name} is not allowed in a GetCallerIdentity proof`, {
        fields: { header: name },
      });
  }

  const rawAuth = headers.get('authorization');
  if (rawAuth === undefined)
    return refuse('proof_malformed', 'no Authorization header (presigned URLs are not accepted)');
  const auth = parseAuthorization(rawAuth);
  if (!auth.ok) return auth;
  const { signedHeaders } = auth.value;
  for (const name of signedHeaders) {
    if (!headers.has(name))
      return refuse('proof_malformed', `signed header ${name} is missing from the request`, {
        fields: { header: name },
      });
    if (UNFORWARDABLE.has(name) || name.startsWith('proxy-') || name.startsWith('x-forwarded-'))
      return refuse('proof_malformed', `header ${name} cannot be part of a forwarded proof`, {
        fields: { header: name },
      });
  }
  const signed = new Set(signedHeaders);
  for (const name of headers.keys()) {
    // An unsigned audience header is refused by the binding check, with its own reason.
    if (signed.has(name) || UNSIGNED_TOLERATED.has(name) || name === AWS_AUDIENCE_HEADER) continue;
    // A form body needs its content type, signed or not; a query-form proof has no body to type.
    if (name === 'content-type' && target.carrier === 'body') continue;
    return refuse(
      'proof_malformed',
      `header ${name} is not in SignedHeaders; sign it or leave it out (unsigned headers are not forwarded)`,
      {
        fields: { header: name },
        publicDetail: `Header ${name} is not signed: sign it or leave it out.`,
      },
    );
  }

  const forwardHeaders: Record<string, string> = { authorization: rawAuth };
  // Host travels as the URL's host; Content-Length is computed by the HTTP client from the body.
  for (const name of signedHeaders)
    if (name !== 'host' && name !== 'content-length') forwardHeaders[name] = headers.get(name)!;
  const token = headers.get('x-amz-security-token');
  if (token !== undefined) forwardHeaders['x-amz-security-token'] = token;
  // STS reads a form body by its content type (checked to be the form type by checkSignedHeaders).
  const contentType = headers.get('content-type');
  if (target.carrier === 'body' && contentType !== undefined && !signed.has('content-type'))
    forwardHeaders['content-type'] = contentType.trim();
  return accept({ ...target, forwardHeaders, authorization: auth.value, headers });
}

/** The cache identity of a rebuilt request: everything the bridge would send, in a canonical order. */
export function rebuiltRequestKey(req: RebuiltRequest): string {
  const headers = Object.entries(req.forwardHeaders).sort(([a], [b]) => (a < b ? -1 : 1));
  return sha256Hex(JSON.stringify([req.endpoint.host, req.carrier, req.body, headers]));
}

/** Steps 5–8: required headers signed, binding value, scope and date window. */
export function checkSignedHeaders(
  req: SerializedRequest,
  target: CheckedTarget,
  policy: BindingPolicy,
): Result<CheckedSignedRequest> {
  const rebuilt = rebuildSignedRequest(req, target);
  if (!rebuilt.ok) return rebuilt;
  const { headers } = rebuilt.value;
  const { signedHeaders, scopeRegion, scopeDate } = rebuilt.value.authorization;

  // The binding header: present, signed, and ours (GHSA-wq26-3j2m-4hvv; docs/platforms/aws.md#what-the-bridge-checks-and-why).
  const audience = headers.get(AWS_AUDIENCE_HEADER);
  if (audience === undefined)
    return refuse('proof_audience', `no ${AWS_AUDIENCE_HEADER} header: the proof is not bound to a bridge`);
  if (!signedHeaders.includes(AWS_AUDIENCE_HEADER))
    return refuse('proof_audience', `${AWS_AUDIENCE_HEADER} is not in SignedHeaders, so STS would not vouch for it`);
  for (const required of ['host', 'x-amz-date']) {
    if (!headers.has(required)) return refuse('proof_malformed', `no ${required} header`);
    if (!signedHeaders.includes(required)) return refuse('proof_malformed', `${required} is not in SignedHeaders`);
  }
  if (canonicalValue(audience) !== policy.audience) {
    return refuse(
      'proof_audience',
      `bound to audience ${JSON.stringify(canonicalValue(audience).slice(0, 200))}, not this bridge's`,
      {
        fields: {
          claim: AWS_AUDIENCE_HEADER,
          expected: policy.audience,
          received: canonicalValue(audience).slice(0, 200),
        },
      },
    );
  }

  const endpoint = target.endpoint;
  const hostHeader = canonicalValue(headers.get('host')!).toLowerCase();
  if (hostHeader !== endpoint.host)
    return refuse('proof_malformed', 'the host header does not match the url host', {
      fields: { claim: 'host', expected: endpoint.host, received: hostHeader.slice(0, 200) },
    });
  if (scopeRegion !== endpoint.region) {
    const advice = regionScopeAdvice(endpoint, scopeRegion, policy.allowed);
    return refuse('proof_signature', advice.detail, {
      fields: {
        host: endpoint.host,
        claim: 'credential_scope_region',
        expected: endpoint.region,
        received: scopeRegion,
      },
      publicDetail: advice.publicDetail,
    });
  }

  const amzDate = headers.get('x-amz-date')!;
  const signedAt = parseAmzDate(amzDate);
  if (signedAt === undefined) return refuse('proof_malformed', 'x-amz-date is not YYYYMMDDTHHMMSSZ');
  if (amzDate.slice(0, 8) !== scopeDate)
    return refuse('proof_malformed', 'the credential scope date is not the date of x-amz-date', {
      fields: { claim: 'credential_scope_date', expected: amzDate.slice(0, 8), received: scopeDate },
    });
  const age = policy.now - signedAt;
  if (age > policy.maxRequestAgeSec)
    return refuse('proof_expired', `signed ${age}s ago; at most ${policy.maxRequestAgeSec}s are accepted`, {
      fields: { claim: 'x-amz-date', received: amzDate.trim() },
    });
  if (-age > AWS_FUTURE_SKEW_SEC)
    return refuse('proof_not_yet_valid', `x-amz-date is ${-age}s in the future`, {
      fields: { claim: 'x-amz-date', received: amzDate.trim() },
    });

  const contentType = headers.get('content-type');
  if (contentType !== undefined && !FORM_CONTENT_TYPE.test(contentType.trim()))
    return refuse('proof_malformed', 'content-type must be application/x-www-form-urlencoded');
  if (target.carrier === 'body' && contentType === undefined)
    return refuse('proof_malformed', 'a form body needs content-type application/x-www-form-urlencoded');
  const contentLength = headers.get('content-length');
  if (
    contentLength !== undefined &&
    signedHeaders.includes('content-length') &&
    contentLength.trim() !== String(new TextEncoder().encode(target.body).byteLength)
  ) {
    return refuse('proof_malformed', 'the signed content-length does not match the body');
  }
  const accepted = headers.get('accept');
  if (accepted !== undefined && !ACCEPTS.has(accepted.trim().toLowerCase()))
    return refuse('proof_malformed', 'a signed accept header must ask for JSON or XML');
  // A body that no longer matches its signed hash would fail at STS anyway; refusing here saves the call.
  const contentSha = headers.get('x-amz-content-sha256');
  if (contentSha !== undefined && contentSha.trim().toLowerCase() !== sha256Hex(target.body)) {
    return refuse('proof_signature', 'x-amz-content-sha256 does not match the body');
  }
  return accept({ ...rebuilt.value, signedAt });
}

export function parseAuthorization(value: string): Result<Authorization> {
  const m = AUTHORIZATION.exec(value.trim());
  if (!m)
    return refuse(
      'proof_malformed',
      'Authorization is not an AWS4-HMAC-SHA256 header with Credential, SignedHeaders and Signature',
    );
  const [, accessKeyId, scopeDate, scopeRegion, service, signedList, signature] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (service !== 'sts')
    return refuse('proof_malformed', `credential scope service is ${service}, not sts`, {
      fields: { claim: 'credential_scope_service', expected: 'sts', received: service },
    });
  const signedHeaders = signedList.split(';');
  if (signedHeaders.some((h) => h === '')) return refuse('proof_malformed', 'empty name in SignedHeaders');
  for (let i = 1; i < signedHeaders.length; i++) {
    // SigV4 lists signed headers sorted and once each; anything else cannot verify at STS.
    if (signedHeaders[i - 1]! >= signedHeaders[i]!)
      return refuse('proof_malformed', 'SignedHeaders must be sorted and unique');
  }
  return accept({ accessKeyId, scopeDate, scopeRegion, signedHeaders, signature });
}

/** SigV4 canonical header value: trimmed, runs of spaces collapsed (as Chainguard compares; docs/platforms/aws.md#what-the-bridge-checks-and-why). */
export function canonicalValue(value: string): string {
  return value.trim().replace(/ +/g, ' ');
}

export function parseAmzDate(value: string): number | undefined {
  const m = AMZ_DATE.exec(value.trim());
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  // Reject dates that Date.UTC silently normalises (Feb 30, hour 25).
  if (
    back.getUTCFullYear() !== y ||
    back.getUTCMonth() !== mo - 1 ||
    back.getUTCDate() !== d ||
    back.getUTCHours() !== h ||
    back.getUTCMinutes() !== mi
  )
    return undefined;
  return ms / 1000;
}
