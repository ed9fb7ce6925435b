/**
 * SHA-256 as lowercase hex, synchronous on every runtime. WebCrypto's digest is asynchronous: each
 * call is a thread-pool round trip (~60 µs measured) on the hot path.
 *
 * On Node the runtime's own hash is used (`process.getBuiltinModule`, so the Workers bundle has no
 * `node:*` import: https://nodejs.org/api/process.html#processgetbuiltinmoduleid): about 5 µs for a
 * GCP ID token where the pure-JS one takes 20 (docs/performance.md). Elsewhere (Workers without
 * nodejs_compat) it is @noble/hashes (audited, pure JS). Both hash the UTF-8 encoding of the string,
 * lone surrogates as U+FFFD, so they give the same digest for every string.
 *
 * The pure-JS hex text is decoded from one byte array, so it is one flat 64-character string: built
 * by concatenation (as bytesToHex does) it would be a tree of 32 two-character pieces, about ten
 * times its size for as long as a cache holds it (docs/performance.md, memory).
 */
import { sha256 } from '@noble/hashes/sha2.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const HEX_DIGITS = encoder.encode('0123456789abcdef');

/** The part of Node's `crypto` module used here. */
interface NativeCrypto {
  createHash(algorithm: 'sha256'): { update(data: string, encoding: 'utf8'): { digest(encoding: 'hex'): string } };
  /** One-shot digest without a Hash object (https://nodejs.org/api/crypto.html#cryptohashalgorithm-data-options). */
  hash?(algorithm: 'sha256', data: string, outputEncoding: 'hex'): string;
}

/** Pure JS: the same digest as the native one, on any runtime. */
export function sha256HexPortable(value: string): string {
  const digest = sha256(encoder.encode(value));
  const hex = new Uint8Array(digest.length * 2);
  for (let i = 0; i < digest.length; i++) {
    hex[2 * i] = HEX_DIGITS[digest[i]! >> 4]!;
    hex[2 * i + 1] = HEX_DIGITS[digest[i]! & 15]!;
  }
  return decoder.decode(hex);
}

/** The runtime's own SHA-256, where it has Node's `crypto` module without an import; else undefined. */
export function nativeSha256Hex(): ((value: string) => string) | undefined {
  const runtime = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const crypto = runtime?.getBuiltinModule?.('crypto') as NativeCrypto | undefined;
  if (typeof crypto?.createHash !== 'function') return undefined;
  // The one-shot `hash` (strings as UTF-8, like `update(value, 'utf8')`) skips building a Hash object
  // per call: about 0.7 µs less for a GCP ID token (docs/performance.md).
  if (typeof crypto.hash === 'function') return (value) => crypto.hash!('sha256', value, 'hex');
  return (value) => crypto.createHash('sha256').update(value, 'utf8').digest('hex');
}

export const sha256Hex: (value: string) => string = nativeSha256Hex() ?? sha256HexPortable;
