/**
 * Values the bridge keeps in Redis that nobody without BRIDGE_CACHE_ENCRYPTION_KEY may read, forge
 * or confirm (docs/redis.md, what is stored):
 * - key names are HMAC-SHA-256 of what the bridge looks the value up by, so a name reveals nothing and
 *   cannot be confirmed by guessing its inputs without the key;
 * - values are AES-256-GCM (NIST SP 800-38D) with a random 96-bit IV per write and the key name as
 *   additional data, so a value copied under another name does not open, and a value changed by one
 *   bit does not open at all;
 * - the two keys of each purpose come from the secret by HKDF-SHA-256 (RFC 5869), one per purpose and
 *   use, so the shared token cache and the shared verified-proof cache never share a key.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { AES_GCM_IV_BYTES } from './constants.ts';

const GCM_TAG_BYTES = 16;

/** HKDF salt and info strings of one purpose: fixed forever, or values already in Redis stop opening. */
export interface SealPurpose {
  salt: string;
  valueInfo: string;
  nameInfo: string;
}

export class SealedValues {
  readonly #aesKey: Buffer;
  readonly #nameKey: Buffer;

  constructor(secret: Uint8Array, purpose: SealPurpose) {
    this.#aesKey = Buffer.from(hkdfSync('sha256', secret, purpose.salt, purpose.valueInfo, 32));
    this.#nameKey = Buffer.from(hkdfSync('sha256', secret, purpose.salt, purpose.nameInfo, 32));
  }

  /** Hex HMAC-SHA-256 of `lookupKey`: the Redis key name's secret part. */
  name(lookupKey: string): string {
    return createHmac('sha256', this.#nameKey).update(lookupKey).digest('hex');
  }

  seal(name: string, value: unknown): Buffer {
    const iv = randomBytes(AES_GCM_IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#aesKey, iv);
    cipher.setAAD(Buffer.from(name));
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]);
  }

  /** The object sealed under `name`, or undefined when it does not open (another key, another name, any change). */
  open(name: string, sealed: Buffer): Record<string, unknown> | undefined {
    try {
      if (sealed.length < AES_GCM_IV_BYTES + GCM_TAG_BYTES) return undefined;
      const decipher = createDecipheriv('aes-256-gcm', this.#aesKey, sealed.subarray(0, AES_GCM_IV_BYTES));
      decipher.setAAD(Buffer.from(name));
      decipher.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_BYTES));
      const text = Buffer.concat([
        decipher.update(sealed.subarray(AES_GCM_IV_BYTES, sealed.length - GCM_TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
      const value: unknown = JSON.parse(text);
      return typeof value === 'object' && value !== null && !Array.isArray(value)
        ? (value as Record<string, unknown>)
        : undefined;
    } catch {
      return undefined;
    }
  }
}
