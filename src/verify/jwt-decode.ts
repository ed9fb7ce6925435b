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

const NON_ASCII = /[^\x00-\x7f]/;
const utf8 = new TextDecoder();

/** Shape first (one spelling per token), then each JSON segment decoded once. */
export function decodeCompactJwt(token: string): Result<DecodedJwt> {
  const shape = checkCompactJws(token);
  if (!shape.ok) return shape;
  const segments = shape.value;
  return accept({ token, segments, header: jsonObjectOf(segments.header), claims: jsonObjectOf(segments.payload) });
}

/** A base64url segment (already checked by checkCompactJws) that is a JSON object, or undefined. */
function jsonObjectOf(segment: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(base64urlText(segment));
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/**
 * The UTF-8 text a base64url segment encodes (invalid sequences as U+FFFD, as jose decodes them).
 * Only for a segment checkCompactJws accepted: `atob` alone would forgive whitespace and padding.
 * The runtime's `atob` gives one character per byte; text that is all ASCII (JOSE headers and
 * claims nearly always are) is then already the UTF-8 decoding, so no byte array is built.
 */
export function base64urlText(segment: string): string {
  const binary = atob(segment.replaceAll('-', '+').replaceAll('_', '/'));
  if (!NON_ASCII.test(binary)) return binary;
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return utf8.decode(bytes);
}
