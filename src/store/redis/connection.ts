/**
 * One ioredis connection per process, shared by the Redis stores. Commands fail fast instead of
 * queueing while Redis is away (no offline queue, no per-command retry, a command timeout), so
 * every store sees an error within REDIS_COMMAND_TIMEOUT_MS and decides what that means for it;
 * the connection itself keeps reconnecting with capped exponential backoff (docs/redis.md).
 */
import { Redis } from 'ioredis';
import {
  REDIS_COMMAND_TIMEOUT_MS,
  REDIS_CONNECT_TIMEOUT_MS,
  REDIS_RECONNECT_BASE_MS,
  REDIS_RECONNECT_MAX_MS,
  REDIS_STARTUP_WAIT_MS,
} from './constants.ts';
import { parseRedisUrl } from './url.ts';

export interface RedisConnection {
  readonly client: Redis;
  /** True while the connection is up and authenticated (for /readyz). */
  ready(): boolean;
  /** Resolves once connected, or after REDIS_STARTUP_WAIT_MS either way; says which. */
  waitReady(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

export function connectRedis(url: string, log: (message: string) => void, onError?: () => void): RedisConnection {
  const client = new Redis({
    ...parseRedisUrl(url),
    connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    // Fail a command at once while disconnected, and do not resend it after a reconnect: the store
    // that issued it has already answered its request (fail closed or fall back).
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) =>
      Math.min(REDIS_RECONNECT_BASE_MS * 2 ** Math.min(attempt - 1, 16), REDIS_RECONNECT_MAX_MS),
    // ioredis otherwise reconnects on READONLY (a failover in progress) only when told to.
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
  });
  // Log transitions, not every failed attempt: an outage is one line, and so is the recovery.
  let down = false;
  client.on('error', (err: Error & { code?: string }) => {
    onError?.();
    if (down) return;
    down = true;
    // Connection, TLS and AUTH errors name the host and the cause, never the password.
    log(
      `redis unreachable: ${err.code ?? err.name}: ${err.message.split('\n')[0]!.slice(0, 200)}; single-use proofs answer 503 until it is back`,
    );
  });
  client.on('ready', () => {
    if (down) log('redis reachable again');
    down = false;
  });
  return {
    client,
    ready: () => client.status === 'ready',
    waitReady: (timeoutMs = REDIS_STARTUP_WAIT_MS) =>
      client.status === 'ready'
        ? Promise.resolve(true)
        : new Promise((resolve) => {
            const done = (ok: boolean) => {
              clearTimeout(timer);
              client.off('ready', onReady);
              resolve(ok);
            };
            const onReady = () => done(true);
            const timer = setTimeout(() => done(false), timeoutMs);
            client.on('ready', onReady);
          }),
    close: async () => {
      client.disconnect(false);
    },
  };
}

/** An error Redis itself returned for a full memory (maxmemory with noeviction): the store is full, not away. */
export function isOutOfMemory(e: unknown): boolean {
  return e instanceof Error && e.message.startsWith('OOM');
}
