/**
 * Numbers of the Redis stores (docs/redis.md explains the deployment they assume).
 */

/** Key prefix when BRIDGE_REDIS_KEY_PREFIX is not set: every key the bridge writes starts with it. */
export const DEFAULT_REDIS_KEY_PREFIX = 'agent-id-bridge:';

/**
 * Longest wait for one Redis command. A replay check sits on the request path: a Redis that does
 * not answer within this is treated as unreachable (503 for single-use proofs), rather than holding
 * requests and connections while it recovers. A healthy Redis on the same network answers in well
 * under a millisecond.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 500;
/** Longest wait for a TCP (and TLS) connection to Redis, each attempt. */
export const REDIS_CONNECT_TIMEOUT_MS = 2_000;
/** How long startup waits for the first connection before serving anyway (replay checks answer 503 until Redis is reached). */
export const REDIS_STARTUP_WAIT_MS = 3_000;
/** Reconnect backoff: first delay, doubled each attempt up to the maximum, forever (docs/redis.md). */
export const REDIS_RECONNECT_BASE_MS = 50;
export const REDIS_RECONNECT_MAX_MS = 2_000;
/**
 * Retry-After given to a caller whose single-use proof could not be checked because Redis did not
 * answer: about one reconnect cycle at the backoff's maximum.
 */
export const REDIS_UNAVAILABLE_RETRY_AFTER_SEC = 2;

/**
 * Shared token cache lock (a distributed single flight): the replica that takes it calls Entra,
 * the others wait for the value. It outlives a full cold fetch (leg 1 and leg 2, each up to the
 * Entra timeout with retries) in the common case; if its holder dies, it expires on its own.
 */
export const SHARED_CACHE_LOCK_MS = 15_000;
/**
 * How long a replica waits for another replica's fetch before calling Entra itself: a waiter never
 * fails because of the lock, it only stops sharing (docs/redis.md, shared token cache).
 */
export const SHARED_CACHE_WAIT_MS = 5_000;
/** Waiters poll for the value, from the first interval doubling up to the second. */
export const SHARED_CACHE_POLL_FIRST_MS = 10;
export const SHARED_CACHE_POLL_MAX_MS = 100;
/** AES-GCM nonce length (NIST SP 800-38D §8.2: 96-bit random IVs). */
export const AES_GCM_IV_BYTES = 12;
/** Shortest BRIDGE_CACHE_ENCRYPTION_KEY accepted, in decoded bytes (an AES-256 key's worth of entropy). */
export const CACHE_SECRET_MIN_BYTES = 32;
