/**
 * The strict shape of a JWT proof, checked before routing, caching or verification: exactly three
 * segments `header.payload.signature` (RFC 7515 §7.1), each in the base64url alphabet without
 * padding or whitespace (RFC 7515 §2, RFC 4648 §5), each in its one canonical spelling (RFC 4648
 * §3.5: the unused bits of the last character are zero), with bounded sizes.
 *
 * Why: jose's decoder forgives whitespace and non-zero trailing bits, so one signed token could be
 * presented in unboundedly many spellings, each a new cache key and a new `proof_sha256`. With this
 * check a token has exactly one accepted spelling.
 */
import { MAX_JWS_HEADER_CHARS, MAX_JWS_SIGNATURE_CHARS, MAX_TOKEN_BYTES } from '../constants.ts';
import { accept, refuse, type Result } from './contract.ts';

export interface CompactJwsSegments {
  readonly header: string;
  readonly payload: string;
  readonly signature: string;
}

/** What the caller may read: the grammar is public (RFC 7515 §7.1). */
export const COMPACT_JWS_PUBLIC_DETAIL =
  'A JWT proof must be a compact JWS: three base64url segments (no padding, no whitespace) joined by dots.';

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

export function checkCompactJws(token: string): Result<CompactJwsSegments> {
  if (token.length > MAX_TOKEN_BYTES) return refuse('proof_too_large', `proof is ${token.length} characters`);
  const segments = token.split('.');
  if (segments.length !== 3) return malformed(`${segments.length} segments, not 3`);
  const [header, payload, signature] = segments as [string, string, string];
  if (header.length === 0 || payload.length === 0) return malformed('an empty header or payload segment');
  if (header.length > MAX_JWS_HEADER_CHARS)
    return malformed(`header segment is ${header.length} characters (at most ${MAX_JWS_HEADER_CHARS})`);
  if (signature.length > MAX_JWS_SIGNATURE_CHARS)
    return malformed(`signature segment is ${signature.length} characters (at most ${MAX_JWS_SIGNATURE_CHARS})`);
  for (const [name, segment] of [
    ['header', header],
    ['payload', payload],
    ['signature', signature],
  ] as const) {
    if (!BASE64URL.test(segment)) return malformed(`${name} segment has a character outside the base64url alphabet`);
    if (!isCanonicalBase64url(segment)) return malformed(`${name} segment is not canonical base64url`);
  }
  // The signature may be empty here (alg "none"); the verifier's alg allow-list refuses it by name.
  return accept({ header, payload, signature });
}

/** Unpadded base64url: a length of 4n+1 is impossible, and the bits past the last byte must be zero. */
function isCanonicalBase64url(segment: string): boolean {
  const rest = segment.length % 4;
  if (rest === 0) return true;
  if (rest === 1) return false;
  const last = ALPHABET.indexOf(segment[segment.length - 1]!);
  // 2 trailing characters carry 1 byte (4 spare bits); 3 carry 2 bytes (2 spare bits).
  return (last & (rest === 2 ? 0x0f : 0x03)) === 0;
}

function malformed(detail: string) {
  return refuse('proof_malformed', `not a compact JWS: ${detail}`, { publicDetail: COMPACT_JWS_PUBLIC_DETAIL });
}
