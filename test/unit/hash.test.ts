/**
 * Issue 12: SHA-256 on Node uses the runtime's own hash and gives exactly the digest of the pure-JS
 * one used where Node's crypto module is absent (Workers without nodejs_compat).
 */
import { describe, expect, it } from 'vitest';
import { nativeSha256Hex, sha256Hex, sha256HexPortable } from '../../src/util/hash.ts';

// FIPS 180-2 appendix B.1 and B.2 (https://csrc.nist.gov/csrc/media/publications/fips/180/2/archive/2002-08-01/documents/fips180-2.pdf).
const VECTORS: [string, string][] = [
  ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
  [
    'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq',
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
  ],
];

describe('issue 12: one SHA-256, native where the runtime has it', () => {
  it('issue 12: on Node the native hash is found, and both give the standard digests', () => {
    const native = nativeSha256Hex();
    expect(native).toBeDefined();
    for (const [input, digest] of VECTORS) {
      expect(sha256Hex(input)).toBe(digest);
      expect(native!(input)).toBe(digest);
      expect(sha256HexPortable(input)).toBe(digest);
    }
  });

  it('issue 12: native and portable agree on empty, non-ASCII, lone-surrogate and 16 KiB strings', () => {
    const native = nativeSha256Hex()!;
    const inputs = ['', 'é', '日本語', '😀', '\ud800', 'a\udc00b', 'x'.repeat(16 * 1024), 'eyJ'.repeat(400)];
    for (const input of inputs) expect(native(input)).toBe(sha256HexPortable(input));
  });
});
