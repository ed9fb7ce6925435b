/**
 * Which Durable Object a key lives in: a deterministic shard of its SHA-256, so every isolate
 * anywhere sends the same key to the same object (the one place its state is decided).
 */

/** Shard index in [0, shards) from the first 32 bits of SHA-256(key). */
export async function shardOf(key: string, shards: number): Promise<number> {
  const digest = new DataView(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(key)));
  return digest.getUint32(0) % shards;
}
