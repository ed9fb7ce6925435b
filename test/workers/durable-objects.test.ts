/**
 * The Durable Objects behind the Workers store ports, driven directly: replay semantics identical to
 * MemoryReplayStore, atomic under concurrency, swept by their alarm; fixed-window rate limits; keys
 * routed to shards deterministically; an unreachable object fails closed.
 */
import { env } from 'cloudflare:workers';
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { storeUnavailable, toWire } from '../../src/errors.ts';
import { StoreUnavailableError } from '../../src/store/ports.ts';
import { REPLAY_SHARDS } from '../../src/store/durable/constants.ts';
import { shardOf } from '../../src/store/durable/shard.ts';
import { DurableRateLimiter, DurableReplayStore } from '../../src/store/durable/stores.ts';
import type { RateLimitCounter } from '../../src/store/durable/rate-limit-counter.ts';
import type { ReplayGuard } from '../../src/store/durable/replay-guard.ts';

const now = () => Math.floor(Date.now() / 1000);
const unique = (prefix: string) => `${prefix}:${crypto.randomUUID()}`;

describe('ReplayGuard', () => {
  it('accepts a key once until it expires, then again (as the memory store does)', async () => {
    const guard = env.REPLAY.getByName(unique('test-shard'));
    const t = now();
    expect(await guard.markUsed('n8n:x:jti-1', t + 300, t)).toBe('fresh');
    expect(await guard.markUsed('n8n:x:jti-1', t + 300, t + 299)).toBe('replayed');
    expect(await guard.markUsed('n8n:x:jti-1', t + 900, t + 300)).toBe('fresh');
    expect(await guard.markUsed('n8n:x:jti-2', t + 300, t)).toBe('fresh');
  });

  it('20 concurrent calls for one key: exactly one true', async () => {
    const guard = env.REPLAY.getByName(unique('test-shard'));
    const t = now();
    const results = await Promise.all(Array.from({ length: 20 }, () => guard.markUsed('n8n:x:same-jti', t + 300, t)));
    expect(results.filter((r) => r === 'fresh')).toHaveLength(1);
    expect(results.filter((r) => r === 'replayed')).toHaveLength(19);
  });

  it('its alarm deletes expired entries and stays armed while entries remain', async () => {
    const guard = env.REPLAY.getByName(unique('test-shard'));
    const t = now();
    await guard.markUsed('expired', t - 1, t - 301);
    await guard.markUsed('live', t + 3600, t);
    expect(await runDurableObjectAlarm(guard)).toBe(true);
    const left = await runInDurableObject(guard, (_o: ReplayGuard, state) => ({
      keys: state.storage.sql
        .exec<{ key: string }>('SELECT key FROM used ORDER BY key')
        .toArray()
        .map((r) => r.key),
      alarm: state.storage.getAlarm(),
    }));
    expect(left.keys).toEqual(['live']);
    expect(await left.alarm).toBeGreaterThan(Date.now());
  });

  it('issue 8 item 11: a partition at its quota is answered "full" without a write; others and replays are unaffected; expiry frees room', async () => {
    const guard = env.REPLAY.getByName(unique('test-shard'));
    const t = now();
    expect(await guard.markUsed('a1', t + 300, t, 'n8n:a', 2)).toBe('fresh');
    expect(await guard.markUsed('a2', t - 1, t - 100, 'n8n:a', 2)).toBe('fresh');
    expect(await guard.markUsed('a3', t + 300, t, 'n8n:a', 2)).toBe('full');
    expect(await guard.markUsed('a1', t + 300, t, 'n8n:a', 2)).toBe('replayed');
    expect(await guard.markUsed('b1', t + 300, t, 'n8n:b', 2)).toBe('fresh');
    expect(await guard.isUsed('a3', t)).toBe(false);
    // The alarm drops a2 (expired) and gives n8n:a its slot back.
    expect(await runDurableObjectAlarm(guard)).toBe(true);
    expect(await guard.markUsed('a3', t + 300, t, 'n8n:a', 2)).toBe('fresh');
  });

  it('issue 8 item 3: isUsed reads without writing', async () => {
    const guard = env.REPLAY.getByName(unique('test-shard'));
    const t = now();
    expect(await guard.isUsed('k', t)).toBe(false);
    expect(await guard.markUsed('k', t + 300, t)).toBe('fresh');
    expect(await guard.isUsed('k', t)).toBe(true);
    expect(await guard.isUsed('k', t + 300)).toBe(false);
  });
});

describe('RateLimitCounter', () => {
  it('counts hits per key in one-minute windows, concurrently exact', async () => {
    const counter = env.RATE_LIMIT.getByName(unique('test-shard'));
    const t = Math.floor(now() / 60) * 60 + 10;
    const results = await Promise.all(Array.from({ length: 5 }, () => counter.hit('gcp|123', 3, t)));
    expect(results.filter((r) => r.allowed)).toHaveLength(3);
    expect(results.filter((r) => !r.allowed)).toEqual(
      Array.from({ length: 2 }, () => ({ allowed: false, retryAfterSec: 50 })),
    );
    expect(await counter.hit('gcp|456', 3, t)).toEqual({ allowed: true });
    expect(await counter.hit('gcp|123', 3, t + 60)).toEqual({ allowed: true });
  });

  it('its alarm drops past windows', async () => {
    const counter = env.RATE_LIMIT.getByName(unique('test-shard'));
    await counter.hit('old', 10, now() - 120);
    expect(await runDurableObjectAlarm(counter)).toBe(true);
    const rows = await runInDurableObject(
      counter,
      (_o: RateLimitCounter, state) => state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM hits').one().n,
    );
    expect(rows).toBe(0);
  });
});

describe('store ports over Durable Objects', () => {
  it('route a key to the same shard every time, spreading keys over all shards', async () => {
    expect(await shardOf('n8n:n8n:a:jti', REPLAY_SHARDS)).toBe(await shardOf('n8n:n8n:a:jti', REPLAY_SHARDS));
    const seen = new Set(await Promise.all(Array.from({ length: 400 }, (_, i) => shardOf(`key-${i}`, REPLAY_SHARDS))));
    expect(seen.size).toBe(REPLAY_SHARDS);
  });

  it('the replay store and rate limiter work end to end through the bindings', async () => {
    const replay = new DurableReplayStore(env.REPLAY, now);
    const key = unique('n8n:test');
    expect(await replay.isUsed(key)).toBe(false);
    expect(await replay.markUsed(key, now() + 60, 'n8n:test')).toBe('fresh');
    expect(await replay.markUsed(key, now() + 60, 'n8n:test')).toBe('replayed');
    expect(await replay.isUsed(key)).toBe(true);
    const limiter = new DurableRateLimiter(env.RATE_LIMIT, 1, now);
    const principal = unique('gcp|');
    expect(await limiter.hit(principal)).toEqual({ allowed: true });
    expect(await limiter.hit(principal)).toMatchObject({ allowed: false });
  });

  it('issue 13 item 2: fail closed with StoreUnavailableError when a Durable Object cannot be reached', async () => {
    const reject = (why: string) => () => Promise.reject(new Error(why));
    const broken = {
      getByName: () => ({
        markUsed: reject('Durable Object overloaded'),
        isUsed: reject('Durable Object overloaded'),
        hit: reject('network lost'),
      }),
    } as unknown as DurableObjectNamespace<never>;
    const err = await new DurableReplayStore(broken, now).markUsed('k', now() + 60, 'p').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err).toMatchObject({ store: 'replay', condition: 'unreachable', retryAfterSec: 5 });
    expect(String((err as Error).message)).toContain('Durable Object overloaded');
    await expect(new DurableReplayStore(broken, now).isUsed('k')).rejects.toMatchObject({
      store: 'replay',
      condition: 'unreachable',
    });
    await expect(new DurableRateLimiter(broken, 5, now).hit('p')).rejects.toMatchObject({
      store: 'rate-limit',
      condition: 'unreachable',
    });
    // And the core answers each with its own 503 reason.
    expect(storeUnavailable(err as StoreUnavailableError)).toMatchObject({
      reason: 'replay_store_unavailable',
      retryAfterSec: 5,
    });
    expect(toWire('replay_store_unavailable').status).toBe(503);
  });
});
