/**
 * Durable Object sizing. Shard counts are part of the routing: changing REPLAY_SHARDS sends a key
 * to another object, which has never seen it, so a spent jti could be accepted once more until the
 * longest proof lifetime (n8n: 300 s + 60 s skew) has passed. Change it only with that in mind.
 */

/** Objects the replay keys are spread over (n8n jti traffic is modest; one object serves thousands/s). */
export const REPLAY_SHARDS = 16;
/** Objects the per-principal rate-limit counters are spread over. Changing it only resets counters. */
export const RATE_LIMIT_SHARDS = 16;
/** Expired rows are swept in batches at most this often, so a busy shard is not woken per entry. */
export const SWEEP_INTERVAL_SEC = 60;
/** What a caller is told to wait when a Durable Object cannot be reached. */
export const STATE_UNAVAILABLE_RETRY_AFTER_SEC = 5;
