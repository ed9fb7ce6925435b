/**
 * Issue 9 item 5: the Node entry's lifecycle as an orchestrator drives it (docs/operations.md,
 * lifecycle). The real entry runs as a child process on a free port; requests are sent in parts over
 * raw connections so that they are in flight when SIGTERM arrives.
 */
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeOptions } from '../../src/node/options.ts';
import { generateSigningKeyJwk } from '../../src/issuer/keys.ts';
import {
  connects,
  MINIMAL_POLICY,
  rawConnection,
  startBridgeChild,
  type BridgeChild,
} from '../support/bridge-child.ts';

const GRACE_MS = 2_000;
/** How long after the grace period the process may take to exit before the test calls it stuck. */
const EXIT_BOUND_MS = GRACE_MS + 8_000;

let bridge: BridgeChild | undefined;
afterEach(() => bridge?.kill());

const statusOf = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
const bodyOf = (raw: string) => JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
async function until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  for (let waited = 0; !pred(); waited += 20) {
    if (waited > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('issue 9 item 5: lifecycle on Node', () => {
  it('issue 9 item 5: /readyz is ready with its checks; SIGTERM drains: /readyz 503, new connections refused, an in-flight request answered, a stalled one cut at the grace period, exit 0', async () => {
    bridge = await startBridgeChild(['src/node.ts'], {
      BRIDGE_ISSUER: 'https://bridge.example.com',
      BRIDGE_SIGNING_KEY: await generateSigningKeyJwk(),
      BRIDGE_POLICY: MINIMAL_POLICY,
      BRIDGE_HOST: '127.0.0.1',
      BRIDGE_SHUTDOWN_GRACE_MS: String(GRACE_MS),
    });
    const ready = await fetch(`${bridge.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { signing_key: 'ok', policy: 'ok' } });

    // In flight when SIGTERM arrives: a body that will never come, a body that comes during the
    // drain, and a readiness probe whose headers end during the drain.
    const stalled = await rawConnection(bridge.port);
    stalled.socket.write(
      'POST /token HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\ngrant_type=',
    );
    const body = 'grant_type=password&username=u';
    const finishing = await rawConnection(bridge.port);
    finishing.socket.write(
      `POST /token HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`,
    );
    const probe = await rawConnection(bridge.port);
    probe.socket.write('GET /readyz HTTP/1.1\r\nHost: bridge\r\n');
    // Let the server read what was sent before the signal.
    await new Promise((r) => setTimeout(r, 500));

    bridge.child.kill('SIGTERM');
    await bridge.waitForLine((l) => l.event === 'draining');
    expect(await connects(bridge.port)).toBe(false);

    probe.socket.write('\r\n');
    await until(() => probe.received().includes('}'), 'the /readyz answer');
    expect(statusOf(probe.received())).toBe(503);
    expect(bodyOf(probe.received())).toMatchObject({ status: 'draining' });

    finishing.socket.write(body.slice(10));
    await until(() => finishing.received().includes('}'), 'the /token answer');
    expect(statusOf(finishing.received())).toBe(400);
    expect(bodyOf(finishing.received())).toMatchObject({ error: 'unsupported_grant_type' });
    expect(finishing.received().toLowerCase()).toContain('connection: close');

    // Logs: every stdout line is JSON; the audit line of the answered request keeps its field names.
    // Audit lines are written once per event-loop turn (src/audit/line-writer.ts) and reach this
    // process through a pipe, so the line can arrive after the answer: wait for it, do not look once.
    const auditLine = await bridge.waitForLine((l) => l.type === 'audit');
    expect(bridge.lines.filter((l) => 'unparsed' in l)).toEqual([]);
    expect(auditLine).toMatchObject({
      level: 'info',
      route: '/token',
      outcome: 'denied',
      reason: 'unsupported_grant_type',
      request_id: expect.any(String),
      time: expect.any(String),
    });

    const exit = await Promise.race([
      bridge.exited,
      new Promise<'stuck'>((r) => setTimeout(() => r('stuck'), EXIT_BOUND_MS)),
    ]);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(bridge.lines.find((l) => l.event === 'exit')).toMatchObject({ why: 'grace period over' });
    await stalled.closed;
    expect(stalled.received()).toBe('');
  });
});

describe('issue 9 item 4: metrics placement on Node', () => {
  it('issue 9 item 4: BRIDGE_METRICS_LISTEN serves /metrics on a listener of its own, and not on the main one', async () => {
    bridge = await startBridgeChild(['src/node.ts'], {
      BRIDGE_ISSUER: 'https://bridge.example.com',
      BRIDGE_SIGNING_KEY: await generateSigningKeyJwk(),
      BRIDGE_POLICY: MINIMAL_POLICY,
      BRIDGE_HOST: '127.0.0.1',
      BRIDGE_METRICS_LISTEN: '127.0.0.1:0',
    });
    const listening = await bridge.waitForLine((l) => l.event === 'listening');
    const metricsUrl = String(listening.metrics);
    expect(new URL(metricsUrl).port).not.toBe(String(bridge.port));
    expect((await fetch(`${bridge.url}/metrics`)).status).toBe(404);
    const res = await fetch(metricsUrl);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/^bridge_build_info\{version="[^"]+",commit="unknown"\} 1$/m);
    expect((await fetch(new URL('/healthz', metricsUrl))).status).toBe(404);
    bridge.child.kill('SIGTERM');
    expect(await bridge.exited).toEqual({ code: 0, signal: null });
  });

  it('issue 9 items 4, 5: a malformed BRIDGE_METRICS_LISTEN or BRIDGE_SHUTDOWN_GRACE_MS refuses to start with exit code 2, naming the option', () => {
    expect(nodeOptions({ BRIDGE_METRICS_LISTEN: 'localhost', BRIDGE_SHUTDOWN_GRACE_MS: '-1' }).problems).toEqual([
      expect.stringMatching(/^BRIDGE_METRICS_LISTEN: must be host:port/),
      expect.stringMatching(/^BRIDGE_SHUTDOWN_GRACE_MS: must be an integer/),
    ]);
    expect(nodeOptions({ BRIDGE_METRICS_LISTEN: '[::1]:9464' }).options.metrics).toEqual({
      where: 'listen',
      host: '::1',
      port: 9464,
    });
    expect(nodeOptions({ BRIDGE_METRICS_LISTEN: 'off' }).options.metrics).toEqual({ where: 'off' });
    expect(nodeOptions({}).options).toEqual({ metrics: { where: 'main' }, shutdownGraceMs: 10_000 });
    const run = spawnSync(process.execPath, ['src/node.ts'], {
      env: { PATH: process.env.PATH ?? '', BRIDGE_SHUTDOWN_GRACE_MS: 'soon' },
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(run.status).toBe(2);
    expect(JSON.parse(run.stderr.trim())).toMatchObject({
      level: 'fatal',
      type: 'config_error',
      problems: [expect.stringMatching(/^BRIDGE_SHUTDOWN_GRACE_MS/)],
    });
  });
});
