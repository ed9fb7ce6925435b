/**
 * A JWT proof decoded once per request: the strict compact-JWS shape (./compact-jws.ts), then the
 * JOSE header and the claims set, each a base64url JSON object (RFC 7515 §7.1, RFC 7519 §7.2). Routing
 * reads the unverified `iss` from it and hands it on with the proof, and the shared verifier
 * (./jwt.ts) reads the header's `alg`, `crit` and the `iss` from the same decoding rather than
 * decoding the proof again; jose then verifies the signature and the claims from the token itself.
 * Nothing read here is trusted: it only picks the verifier and the key (docs/architecture.md#proof-routing).
 */
import { checkCompactJws, type CompactJwsSegments } from './compact-jws.ts';
import { accept, type Result } from './contract.ts';

export interface DecodedJwt {
  /** The exact text decoded: a decoding is used only with the token it came from. */
  readonly token: string;
  readonly segments: CompactJwsSegments;
  /** The JOSE header, or undefined when it is not a base64url JSON object. */
  readonly header: Readonly<Record<string, unknown>> | undefined;
  /** The unverified claims set, or undefined when it is not a base64url JSON object. */
  readonly claims: Readonly<Record<string, unknown>> | undefined;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** Character code → 6-bit value; -1 outside the base64url alphabet (RFC 4648 §5). */
const SEXTETS = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) SEXTETS[ALPHABET.charCodeAt(i)] = i;
const utf8 = new TextDecoder();

/** Shape first (one spelling per token), then each JSON segment decoded once. */
export function decodeCompactJwt(token: string): Result<DecodedJwt> {
  const shape = checkCompactJws(token);
  if (!shape.ok) return shape;
  const segments = shape.value;
  return accept({ token, segments, header: jsonObjectOf(segments.header), claims: jsonObjectOf(segments.payload) });
}

/** A base64url segment that is a JSON object, or undefined. */
function jsonObjectOf(segment: string): Record<string, unknown> | undefined {
  const bytes = decodeBase64url(segment);
  if (bytes === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/**
 * Unpadded base64url to bytes, or undefined for a character outside the alphabet or an impossible
 * length. A table and one pass: the shape check has already refused everything else.
 */
export function decodeBase64url(segment: string): Uint8Array | undefined {
  const n = segment.length;
  if (n % 4 === 1) return undefined;
  const out = new Uint8Array((n * 3) >> 2);
  let o = 0;
  let bits = 0;
  let held = 0;
  for (let i = 0; i < n; i++) {
    const c = segment.charCodeAt(i);
    const v = c < 128 ? SEXTETS[c]! : -1;
    if (v < 0) return undefined;
    bits = ((bits << 6) | v) & 0xfff;
    held += 6;
    if (held >= 8) {
      held -= 8;
      out[o++] = (bits >> held) & 0xff;
    }
  }
  return out;
}
