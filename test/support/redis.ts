/**
 * Redis for the tests that claim distributed behaviour: a real redis-server, never a mock.
 * - TEST_REDIS_URL: a Redis the tests share (`.ci/run` starts one on a free loopback port); each
 *   test uses a key prefix of its own, so files running in parallel never meet.
 * - TEST_REDIS_SERVER: the redis-server binary (default: `redis-server` on PATH), for tests that
 *   stop and restart a Redis of their own mid-test.
 * Locally, without them, those tests are skipped with the reason printed; with CI=true their
 * absence is a failure (`redisAbsentInCi`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL?.trim() || undefined;
export const inCi = process.env.CI === 'true';

const serverBinary = process.env.TEST_REDIS_SERVER?.trim() || 'redis-server';
export const REDIS_SERVER_AVAILABLE = spawnSync(serverBinary, ['--version'], { stdio: 'ignore' }).status === 0;

/** Why the shared-Redis tests do not run here, or undefined when they do. Printed once per file. */
export function sharedRedisSkipReason(): string | undefined {
  if (TEST_REDIS_URL) return undefined;
  const reason =
    'Redis tests skipped: TEST_REDIS_URL is not set (bash .ci/run starts redis-server and sets it; or run redis-server --port 6390 --save "" and export TEST_REDIS_URL=redis://127.0.0.1:6390)';
  console.warn(reason);
  return reason;
}

export function ownRedisSkipReason(): string | undefined {
  if (REDIS_SERVER_AVAILABLE) return undefined;
  const reason = `Redis outage tests skipped: no ${serverBinary} binary (apt-get install redis-server, or set TEST_REDIS_SERVER)`;
  console.warn(reason);
  return reason;
}

/** A key prefix no other test uses. */
export function uniquePrefix(label: string): string {
  return `test:${label}:${randomBytes(6).toString('hex')}:`;
}

/** A direct client for assertions (keys and values the bridge wrote). */
export function inspector(url: string): Redis {
  return new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A redis-server of the test's own on 127.0.0.1 (no persistence), which the test may stop and start again on the same port. */
export interface OwnRedis {
  readonly url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function ownRedis(extraArgs: readonly string[] = []): Promise<OwnRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const self: OwnRedis = {
    url: `redis://127.0.0.1:${port}`,
    async start() {
      child = spawn(
        serverBinary,
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs],
        { stdio: 'ignore' },
      );
      for (let i = 0; i < 100; i++) {
        if (await accepting(port)) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`redis-server did not start on port ${port}`);
    },
    async stop() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve());
        c.kill('SIGTERM');
      });
    },
  };
  await self.start();
  return self;
}
