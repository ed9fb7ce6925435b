/**
 * SHA-256 as lowercase hex, synchronous and runtime-neutral (@noble/hashes: audited, pure JS).
 * WebCrypto's digest is asynchronous: each call is a thread-pool round trip (~60 µs measured)
 * on the hot path; hashing a token here costs ~14 µs on the calling thread.
 *
 * The hex text is decoded from one byte array, so it is one flat 64-character string: built by
 * concatenation (as bytesToHex does) it would be a tree of 32 two-character pieces, about ten
 * times its size for as long as a cache holds it (docs/performance.md, memory).
 */
import { sha256 } from '@noble/hashes/sha2.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const HEX_DIGITS = encoder.encode('0123456789abcdef');

export function sha256Hex(value: string): string {
  const digest = sha256(encoder.encode(value));
  const hex = new Uint8Array(digest.length * 2);
  for (let i = 0; i < digest.length; i++) {
    hex[2 * i] = HEX_DIGITS[digest[i]! >> 4]!;
    hex[2 * i + 1] = HEX_DIGITS[digest[i]! & 15]!;
  }
  return decoder.decode(hex);
}
