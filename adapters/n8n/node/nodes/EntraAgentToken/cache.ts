/**
 * Agent tokens kept in this n8n process's memory (never in workflow data or static data) until
 * shortly before they expire. Keys are hashes: a user token (on-behalf-of mode) never sits in a key.
 */
import { createHash } from 'node:crypto';

/** Renew this long before expiry, so a token handed out still has time for the calls that use it. */
export const RENEW_BEFORE_EXPIRY_SEC = 120;
const MAX_ENTRIES = 500;

export interface CachedToken {
  accessToken: string;
  /** Seconds since the epoch. */
  expiresAt: number;
  scope: string;
  agentId: string;
}

const entries = new Map<string, CachedToken>();

/** Everything that changes which token the bridge would issue, including who asks. */
export function cacheKey(parts: Array<string | undefined>): string {
  return createHash('sha256')
    .update(JSON.stringify(parts.map((p) => p ?? null)))
    .digest('hex');
}

export function hashSecret(secret: string | undefined): string | undefined {
  return secret === undefined || secret === '' ? undefined : createHash('sha256').update(secret).digest('hex');
}

export function getCachedToken(key: string, now: number): CachedToken | undefined {
  const hit = entries.get(key);
  if (!hit) return undefined;
  if (hit.expiresAt - RENEW_BEFORE_EXPIRY_SEC <= now) {
    entries.delete(key);
    return undefined;
  }
  return hit;
}

export function putCachedToken(key: string, token: CachedToken, now: number): void {
  if (token.expiresAt - RENEW_BEFORE_EXPIRY_SEC <= now) return;
  if (entries.size >= MAX_ENTRIES) {
    for (const [k, t] of entries) if (t.expiresAt - RENEW_BEFORE_EXPIRY_SEC <= now) entries.delete(k);
    // Still full: drop the oldest insertion (Map keeps insertion order).
    if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value as string);
  }
  entries.set(key, token);
}

/** For tests and for a credential change: forget every token. */
export function clearTokenCache(): void {
  entries.clear();
}
