/**
 * Header and SigV4-scope checks of a signed GetCallerIdentity (platform-proofs.md §A.1.2, §A.1.7
 * steps 5–8). The bridge cannot check the signature itself (it never holds the workload's secret);
 * STS does, over exactly the headers listed in SignedHeaders. So everything the bridge relies on —
 * host, date and its audience header — must be in that list, present once, and hold the value the
 * bridge expects. Pure: plain data and `now` in, a checked request or a refusal out.
 */
import { sha256Hex } from '../../src/util/hash.ts';
import { AWS_AUDIENCE_HEADER, AWS_FUTURE_SKEW_SEC } from './constants.ts';
import { refuse, type Checked, type CheckedTarget, type SerializedRequest } from './signed-request.ts';
import { regionScopeAdvice, type StsEndpoint } from './sts-hosts.ts';

export interface Authorization {
  readonly accessKeyId: string;
  readonly scopeDate: string;
  readonly scopeRegion: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
}

/** A request that passed every check the bridge can make without STS. */
export interface CheckedSignedRequest extends CheckedTarget {
  /** Headers to forward (lower-case names): the signed ones, the credential, Authorization and Accept. */
  readonly forwardHeaders: Readonly<Record<string, string>>;
  readonly authorization: Authorization;
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

/** X-Amz-* headers that cannot change what STS does (Vault's default allow-list, §A.1.1 a). */
const AMZ_HEADERS = new Set(['x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256', 'x-amz-user-agent']);
/** Headers the bridge will not forward as signed: hop-by-hop, framing, and forwarding metadata. */
const UNFORWARDABLE = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'expect', 'content-encoding', 'forwarded', 'via', 'authorization']);
/** Accept values under which STS answers a shape the bridge parses. */
const ACCEPTS = new Set(['application/json', 'application/xml', 'text/xml', '*/*']);
const FORM_CONTENT_TYPE = /^application\/x-www-form-urlencoded(?:\s*;\s*charset=utf-8)?$/i;

/** Steps 5–8: headers once each, required ones signed, binding value, scope and date window. */
export async function checkSignedHeaders(req: SerializedRequest, target: CheckedTarget, policy: BindingPolicy): Promise<Checked<CheckedSignedRequest>> {
  const headers = new Map<string, string>();
  for (const { key, value } of req.headers) {
    const name = key.toLowerCase();
    if (headers.has(name)) return refuse('proof_malformed', `header ${name} appears more than once`);
    headers.set(name, value);
  }
  for (const name of headers.keys()) {
    if (name.startsWith('x-amz-') && !AMZ_HEADERS.has(name)) return refuse('proof_malformed', `header ${name} is not allowed in a GetCallerIdentity proof`);
  }

  const rawAuth = headers.get('authorization');
  if (rawAuth === undefined) return refuse('proof_malformed', 'no Authorization header (presigned URLs are not accepted)');
  const auth = parseAuthorization(rawAuth);
  if (!auth.ok) return auth;
  const { signedHeaders, scopeRegion, scopeDate } = auth.value;

  // The binding header: present, signed, and ours (§0.1; GHSA-wq26-3j2m-4hvv).
  const audience = headers.get(AWS_AUDIENCE_HEADER);
  if (audience === undefined) return refuse('proof_audience', `no ${AWS_AUDIENCE_HEADER} header: the proof is not bound to a bridge`);
  if (!signedHeaders.includes(AWS_AUDIENCE_HEADER)) return refuse('proof_audience', `${AWS_AUDIENCE_HEADER} is not in SignedHeaders, so STS would not vouch for it`);
  for (const required of ['host', 'x-amz-date']) {
    if (!headers.has(required)) return refuse('proof_malformed', `no ${required} header`);
    if (!signedHeaders.includes(required)) return refuse('proof_malformed', `${required} is not in SignedHeaders`);
  }
  for (const name of signedHeaders) {
    if (!headers.has(name)) return refuse('proof_malformed', `signed header ${name} is missing from the request`);
    if (UNFORWARDABLE.has(name) || name.startsWith('proxy-') || name.startsWith('x-forwarded-')) return refuse('proof_malformed', `header ${name} cannot be part of a forwarded proof`);
  }
  if (canonicalValue(audience) !== policy.audience) {
    return refuse('proof_audience', `bound to audience ${JSON.stringify(canonicalValue(audience).slice(0, 200))}, not this bridge's`);
  }

  const endpoint = target.endpoint;
  if (canonicalValue(headers.get('host')!).toLowerCase() !== endpoint.host) return refuse('proof_malformed', 'the host header does not match the url host');
  if (scopeRegion !== endpoint.region) return refuse('proof_signature', regionScopeAdvice(endpoint, scopeRegion, policy.allowed));

  const amzDate = headers.get('x-amz-date')!;
  const signedAt = parseAmzDate(amzDate);
  if (signedAt === undefined) return refuse('proof_malformed', 'x-amz-date is not YYYYMMDDTHHMMSSZ');
  if (amzDate.slice(0, 8) !== scopeDate) return refuse('proof_malformed', 'the credential scope date is not the date of x-amz-date');
  const age = policy.now - signedAt;
  if (age > policy.maxRequestAgeSec) return refuse('proof_expired', `signed ${age}s ago; at most ${policy.maxRequestAgeSec}s are accepted`);
  if (-age > AWS_FUTURE_SKEW_SEC) return refuse('proof_not_yet_valid', `x-amz-date is ${-age}s in the future`);

  const contentType = headers.get('content-type');
  if (contentType !== undefined && !FORM_CONTENT_TYPE.test(contentType.trim())) return refuse('proof_malformed', 'content-type must be application/x-www-form-urlencoded');
  if (target.carrier === 'body' && contentType === undefined) return refuse('proof_malformed', 'a form body needs content-type application/x-www-form-urlencoded');
  const contentLength = headers.get('content-length');
  if (contentLength !== undefined && signedHeaders.includes('content-length') && contentLength.trim() !== String(new TextEncoder().encode(target.body).byteLength)) {
    return refuse('proof_malformed', 'the signed content-length does not match the body');
  }
  const accept = headers.get('accept');
  if (accept !== undefined && signedHeaders.includes('accept') && !ACCEPTS.has(accept.trim().toLowerCase())) return refuse('proof_malformed', 'a signed accept header must ask for JSON or XML');
  // A body that no longer matches its signed hash would fail at STS anyway; refusing here saves the call.
  const contentSha = headers.get('x-amz-content-sha256');
  if (contentSha !== undefined && contentSha.trim().toLowerCase() !== sha256Hex(target.body)) {
    return refuse('proof_signature', 'x-amz-content-sha256 does not match the body');
  }

  const forwardHeaders: Record<string, string> = { authorization: rawAuth };
  for (const name of signedHeaders) if (name !== 'host' && name !== 'content-length') forwardHeaders[name] = headers.get(name)!;
  // The session token is part of the credential even where a signer leaves it unsigned.
  const token = headers.get('x-amz-security-token');
  if (token !== undefined) forwardHeaders['x-amz-security-token'] = token;
  // STS reads a form body by its content type; checked above to be the form type.
  if (target.carrier === 'body' && !signedHeaders.includes('content-type')) forwardHeaders['content-type'] = contentType!.trim();
  // Unsigned headers are not forwarded; an Accept the signature does not cover is ours to choose.
  if (!signedHeaders.includes('accept')) forwardHeaders.accept = 'application/json';
  return { ok: true, value: { ...target, forwardHeaders, authorization: auth.value, signedAt } };
}

export function parseAuthorization(value: string): Checked<Authorization> {
  const m = AUTHORIZATION.exec(value.trim());
  if (!m) return refuse('proof_malformed', 'Authorization is not an AWS4-HMAC-SHA256 header with Credential, SignedHeaders and Signature');
  const [, accessKeyId, scopeDate, scopeRegion, service, signedList, signature] = m as unknown as [string, string, string, string, string, string, string];
  if (service !== 'sts') return refuse('proof_malformed', `credential scope service is ${service}, not sts`);
  const signedHeaders = signedList.split(';');
  if (signedHeaders.some((h) => h === '')) return refuse('proof_malformed', 'empty name in SignedHeaders');
  for (let i = 1; i < signedHeaders.length; i++) {
    // SigV4 lists signed headers sorted and once each; anything else cannot verify at STS.
    if (signedHeaders[i - 1]! >= signedHeaders[i]!) return refuse('proof_malformed', 'SignedHeaders must be sorted and unique');
  }
  return { ok: true, value: { accessKeyId, scopeDate, scopeRegion, signedHeaders, signature } };
}

/** SigV4 canonical header value: trimmed, runs of spaces collapsed (as Chainguard compares, §A.1.1 c). */
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
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || back.getUTCHours() !== h || back.getUTCMinutes() !== mi) return undefined;
  return ms / 1000;
}
