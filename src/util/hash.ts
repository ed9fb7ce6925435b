/**
 * SHA-256 as lowercase hex, synchronous and runtime-neutral (@noble/hashes: audited, pure JS).
 * WebCrypto's digest is asynchronous: each call is a thread-pool round trip (~60 µs measured)
 * on the hot path; hashing a token here costs ~14 µs on the calling thread.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

const encoder = new TextEncoder();

export function sha256Hex(value: string): string {
  return bytesToHex(sha256(encoder.encode(value)));
}
