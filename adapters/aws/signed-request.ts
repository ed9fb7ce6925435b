/**
 * Proof kind 1 on the wire: the serialized signed GetCallerIdentity in the format Google's workload
 * identity federation uses (https://google.aip.dev/auth/4117; docs/platforms/aws.md#kind-1-wire-format):
 *
 *   subject_token = urlencode(JSON {url, method, headers: [{key, value}], body?})
 *
 * These are pure checks of the request's shape and target (the first half of docs/platforms/aws.md#kind-1-wire-format);
 * header and signature-scope checks follow in ./sigv4.ts. Nothing here does I/O.
 */
import { accept, refuse, type Result } from '../../src/verify/contract.ts';
import { isRecord } from '../../src/util/is-record.ts';
import {
  AWS_MAX_HEADER_VALUE_BYTES,
  AWS_MAX_PROOF_BYTES,
  AWS_MAX_PROOF_HEADERS,
  AWS_MAX_URL_BYTES,
  GET_CALLER_IDENTITY_FORM,
  STS_API_VERSION,
} from './constants.ts';
import { acceptedEndpoints, type StsEndpoint } from './sts-hosts.ts';

/** The proof as the workload serialized it; nothing is checked yet but its JSON shape. */
export interface SerializedRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: readonly { readonly key: string; readonly value: string }[];
  readonly body: string;
}

/** Where the GetCallerIdentity call goes and how it is carried. */
export interface CheckedTarget {
  readonly endpoint: StsEndpoint;
  /** 'query': Google's form, action in the query string and an empty body; 'body': a form body. */
  readonly carrier: 'query' | 'body';
  /** The body to forward byte for byte ('' in query form). */
  readonly body: string;
}

const TOP_LEVEL_KEYS = new Set(['url', 'method', 'headers', 'body']);
const HEADER_NAME = /^[A-Za-z0-9-]{1,64}$/;
// Visible ASCII, space and tab only: CR/LF would smuggle another header, and SigV4 signers and
// fetch disagree on anything outside ASCII.
const NOT_HEADER_TEXT = /[^\t\x20-\x7e]/;
/** The two byte-exact forms of the form body; the payload hash covers the raw bytes. */
const FORM_BODIES = new Set([GET_CALLER_IDENTITY_FORM, `Version=${STS_API_VERSION}&Action=GetCallerIdentity`]);

/** Step 1–2: size limit, then parse. Accepts the URL-encoded JSON (Google's form) or the bare JSON. */
export function decodeProof(token: string): Result<SerializedRequest> {
  if (token.length > AWS_MAX_PROOF_BYTES)
    return refuse(
      'proof_too_large',
      `signed request is ${token.length} bytes, over the ${AWS_MAX_PROOF_BYTES}-byte cap`,
    );
  let json = token;
  if (!token.startsWith('{')) {
    if (!/^%7b/i.test(token)) return refuse('proof_malformed', 'not the URL-encoded JSON of a signed request');
    try {
      json = decodeURIComponent(token);
    } catch {
      return refuse('proof_malformed', 'invalid URL encoding');
    }
  }
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return refuse('proof_malformed', 'signed request is not JSON');
  }
  if (!isRecord(raw)) return refuse('proof_malformed', 'signed request is not a JSON object');
  for (const key of Object.keys(raw))
    if (!TOP_LEVEL_KEYS.has(key))
      return refuse('proof_malformed', `unexpected field ${JSON.stringify(key.slice(0, 40))}`);
  const { url, method, headers, body } = raw;
  if (typeof url !== 'string' || url.length === 0 || url.length > AWS_MAX_URL_BYTES)
    return refuse('proof_malformed', 'url must be a string of at most 2048 characters');
  if (typeof method !== 'string') return refuse('proof_malformed', 'method must be a string');
  if (body !== undefined && body !== null && typeof body !== 'string')
    return refuse('proof_malformed', 'body must be a string');
  if (!Array.isArray(headers) || headers.length === 0)
    return refuse('proof_malformed', 'headers must be a non-empty array of {key, value}');
  if (headers.length > AWS_MAX_PROOF_HEADERS)
    return refuse('proof_too_large', `${headers.length} headers, over the limit of ${AWS_MAX_PROOF_HEADERS}`);
  const parsed: { key: string; value: string }[] = [];
  for (const h of headers) {
    if (!isRecord(h) || Object.keys(h).length !== 2 || typeof h.key !== 'string' || typeof h.value !== 'string') {
      return refuse('proof_malformed', 'each header must be exactly {key, value} with string values');
    }
    if (!HEADER_NAME.test(h.key)) return refuse('proof_malformed', 'header name is not a plain token');
    if (h.value.length > AWS_MAX_HEADER_VALUE_BYTES)
      return refuse('proof_too_large', `header ${h.key.toLowerCase()} is over ${AWS_MAX_HEADER_VALUE_BYTES} bytes`);
    if (NOT_HEADER_TEXT.test(h.value))
      return refuse('proof_malformed', `header ${h.key.toLowerCase()} contains control or non-ASCII characters`);
    parsed.push({ key: h.key, value: h.value });
  }
  return accept({ url, method, headers: parsed, body: typeof body === 'string' ? body : '' });
}

/**
 * Steps 3–4: POST to `https://<allow-listed host>/`, default port, carrying exactly
 * Action=GetCallerIdentity&Version=2011-06-15 in the query (empty body) or as the form body.
 * The URL is split by hand with one strict pattern, so no URL-parser quirk (userinfo, backslashes,
 * percent-encoded hosts) can make the checked host differ from the contacted one.
 */
export function checkTarget(req: SerializedRequest, allowed: ReadonlyMap<string, StsEndpoint>): Result<CheckedTarget> {
  if (req.method !== 'POST')
    return refuse('proof_malformed', `method must be POST, not ${JSON.stringify(req.method.slice(0, 10))}`);
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(#.*)?$/.exec(req.url);
  if (!m) return refuse('proof_malformed', 'url is not an absolute URL');
  const [, scheme, authority, path, query = '', fragment] = m as unknown as [
    string,
    string,
    string,
    string,
    string | undefined,
    string | undefined,
  ];
  if (scheme.toLowerCase() !== 'https')
    return refuse(
      'proof_untrusted_issuer',
      `scheme ${scheme.toLowerCase().slice(0, 10)} is not allowed; STS is called over https only`,
    );
  if (authority.includes('@')) return refuse('proof_untrusted_issuer', 'url must not carry userinfo');
  if (authority.includes(':') || authority.startsWith('['))
    return refuse('proof_untrusted_issuer', 'url must not name a port (STS listens on the default https port)');
  const host = authority.toLowerCase();
  const endpoint = allowed.get(host);
  if (!endpoint) {
    return refuse('proof_untrusted_issuer', `host ${JSON.stringify(host.slice(0, 100))} is not an allowed STS host`, {
      fields: { claim: 'url', received: host.slice(0, 100) },
      publicDetail: `Sign the request for one of the accepted STS endpoints: ${acceptedEndpoints(allowed)}.`,
    });
  }
  if (path !== '' && path !== '/') return refuse('proof_malformed', 'url path must be /');
  if (fragment !== undefined) return refuse('proof_malformed', 'url must not have a fragment');

  if (query !== '' && req.body !== '')
    return refuse('proof_malformed', 'the action must be in the query string or in the body, not both');
  const form = query !== '' ? query : req.body;
  if (form === '') return refuse('proof_malformed', 'no Action: expected Action=GetCallerIdentity&Version=2011-06-15');
  const params = checkGetCallerIdentityForm(form);
  if (!params.ok) return params;
  if (query === '' && !FORM_BODIES.has(req.body))
    return refuse('proof_malformed', 'form body must be exactly Action=GetCallerIdentity&Version=2011-06-15');
  return accept({ endpoint, carrier: query !== '' ? 'query' : 'body', body: req.body });
}

/** Exactly Action=GetCallerIdentity and Version=2011-06-15, each once; any other parameter is refused. */
function checkGetCallerIdentityForm(form: string): Result<null> {
  const seen = new Map<string, string>();
  for (const pair of form.split('&')) {
    const eq = pair.indexOf('=');
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent((eq < 0 ? pair : pair.slice(0, eq)).replace(/\+/g, ' '));
      value = decodeURIComponent((eq < 0 ? '' : pair.slice(eq + 1)).replace(/\+/g, ' '));
    } catch {
      return refuse('proof_malformed', 'invalid percent-encoding in the STS parameters');
    }
    if (name !== 'Action' && name !== 'Version')
      return refuse(
        'proof_malformed',
        `parameter ${JSON.stringify(name.slice(0, 40))} is not allowed; only Action and Version`,
      );
    if (seen.has(name)) return refuse('proof_malformed', `parameter ${name} is repeated`);
    seen.set(name, value);
  }
  const action = seen.get('Action');
  if (action !== 'GetCallerIdentity')
    return refuse(
      'proof_malformed',
      `action ${JSON.stringify((action ?? '(none)').slice(0, 40))} is not allowed; only GetCallerIdentity`,
    );
  if (seen.get('Version') !== STS_API_VERSION) return refuse('proof_malformed', `Version must be ${STS_API_VERSION}`);
  return accept(null);
}
