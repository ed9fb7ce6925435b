/**
 * Two bridge replicas sharing one real Redis (docs/redis.md): a single-use
 * proof is spent once across both, one cold burst calls Entra once per leg, a rate limit holds
 * across both, and a Redis outage refuses single-use proofs (503, retryable) while other proofs
 * keep being exchanged, until Redis is back, without a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/audit.ts';
import { TOKEN_TYPE } from '../../src/constants.ts';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';
import { postToken, type TokenResponse } from '../support/http.ts';
import {
  inCi,
  ownRedis,
  ownRedisSkipReason,
  sharedRedisSkipReason,
  TEST_REDIS_URL,
  type OwnRedis,
} from '../support/redis.ts';
import { signN8nAssertion } from '../workers/harness/n8n-assertion.ts';

const sharedSkip = sharedRedisSkipReason();
const ownSkip = ownRedisSkipReason();

function n8nAssertion(sb: Sandbox, jti?: string): Promise<string> {
  const m = sb.manifest.n8n as { instanceId: string; workflowId: string; privateJwk: Record<string, string> };
  return signN8nAssertion({
    privateJwk: m.privateJwk,
    instanceId: m.instanceId,
    workflowId: m.workflowId,
    audience: `${sb.url}/token`,
    ...(jti ? { jti } : {}),
  });
}

function exchangeAt(replica: string, subjectToken: string, resource: string = SANDBOX.graph): Promise<TokenResponse> {
  return postToken(replica, { subject_token: subjectToken, subject_token_type: TOKEN_TYPE.jwt, resource });
}

async function gcpToken(sb: Sandbox): Promise<string> {
  return sb.gcp.emulator.mintIdToken({ audience: sb.url, format: 'full' });
}

function reasonOf(audit: AuditEvent[], res: TokenResponse): string | undefined {
  return audit.find((e) => e.request_id === res.headers.get('x-request-id'))?.reason;
}

describe.runIf(inCi)('Redis in CI', () => {
  it('issue 9 Must show: CI provides Redis (TEST_REDIS_URL and a redis-server binary), so no Redis test is skipped there', () => {
    expect(sharedSkip, '.ci/run must start redis-server and export TEST_REDIS_URL').toBeUndefined();
    expect(ownSkip, '.ci/run must install redis-server').toBeUndefined();
  });
});

describe.skipIf(sharedSkip !== undefined)('two replicas sharing one Redis', () => {
  const audit: AuditEvent[] = [];
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox({ port: 0, replicas: 2, redisUrl: TEST_REDIS_URL!, audit: (e) => audit.push(e) });
  });
  afterAll(() => sb?.close());

  it('issue 9 item 3: the manifest lists both replicas and the redis store', async () => {
    const manifest = (await (await fetch(`${sb.replicas[1]}/_sandbox`)).json()) as Record<string, unknown>;
    expect(manifest.replicas).toEqual(sb.replicas);
    expect(sb.replicas).toHaveLength(2);
    expect(new Set(sb.replicas).size).toBe(2);
    expect(manifest.store).toBe('redis');
  });

  it('issue 9 item 2: 50 concurrent identical cold exchanges split across both replicas make exactly one leg-1 and one leg-2 call', async () => {
    const token = await gcpToken(sb);
    sb.entra.resetCalls();
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => exchangeAt(sb.replicas[i % 2]!, token, SANDBOX.api)),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(50).fill(200));
    expect(new Set(answers.map((a) => a.body.access_token)).size).toBe(1);
    expect(sb.entra.calls.filter((c) => c.leg === 'leg1')).toHaveLength(1);
    expect(sb.entra.calls.filter((c) => c.leg === 'leg2')).toHaveLength(1);
  });

  it('issue 9 item 1: 20 concurrent exchanges of the same n8n assertion split across both replicas yield exactly one token', async () => {
    const assertion = await n8nAssertion(sb);
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => exchangeAt(sb.replicas[i % 2]!, assertion)));
    const issued = answers.filter((a) => a.status === 200);
    expect(issued).toHaveLength(1);
    const refused = answers.filter((a) => a.status !== 200);
    expect(refused).toHaveLength(19);
    for (const r of refused) {
      expect(r.status).toBe(400);
      expect(r.body).not.toHaveProperty('access_token');
      expect(reasonOf(audit, r)).toBe('proof_replayed');
    }
  });
});

describe.skipIf(sharedSkip !== undefined)('a rate limit across two replicas', () => {
  const LIMIT = 5;
  const audit: AuditEvent[] = [];
  let sb: Sandbox;
  beforeAll(async () => {
    // One pinned minute: the count cannot be split by a window turning during the test.
    const now = Math.floor(Date.now() / 1000);
    sb = await startSandbox({
      port: 0,
      replicas: 2,
      redisUrl: TEST_REDIS_URL!,
      clock: () => now,
      overrides: { BRIDGE_RATE_LIMIT_PER_MINUTE: String(LIMIT) },
      audit: (e) => audit.push(e),
    });
  });
  afterAll(() => sb?.close());

  it('issue 9 item 1: a limit of K per minute holds across both replicas together, not K per replica', async () => {
    const token = await gcpToken(sb);
    const answers: TokenResponse[] = [];
    // Sequential and alternating, so each replica alone stays under 2K and only a shared count can refuse.
    for (let i = 0; i < 2 * LIMIT; i++) answers.push(await exchangeAt(sb.replicas[i % 2]!, token));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(LIMIT);
    const limited = answers.filter((a) => a.status === 429);
    expect(limited).toHaveLength(LIMIT);
    for (const r of limited) {
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(reasonOf(audit, r)).toBe('rate_limited');
    }
  });
});

describe.skipIf(ownSkip !== undefined)('Redis stopped mid-test, then back', () => {
  const audit: AuditEvent[] = [];
  let redis: OwnRedis;
  let sb: Sandbox;
  beforeAll(async () => {
    redis = await ownRedis();
    sb = await startSandbox({ port: 0, replicas: 2, redisUrl: redis.url, audit: (e) => audit.push(e) });
  });
  afterAll(async () => {
    await sb?.close();
    await redis?.stop();
  });

  it('issue 9 item 1: n8n proofs are refused with a retryable 503, GCP proofs are still exchanged from cache, and both work again when Redis returns', async () => {
    const gcp = await gcpToken(sb);
    for (const replica of sb.replicas) expect((await exchangeAt(replica, gcp)).status).toBe(200);
    expect((await exchangeAt(sb.replicas[0]!, await n8nAssertion(sb))).status).toBe(200);

    await redis.stop();
    for (const replica of sb.replicas) {
      const refused = await exchangeAt(replica, await n8nAssertion(sb));
      expect(refused.status).toBe(503);
      expect(refused.body).toMatchObject({ error: 'temporarily_unavailable' });
      expect(refused.body).not.toHaveProperty('access_token');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(reasonOf(audit, refused)).toBe('replay_store_unavailable');

      const served = await exchangeAt(replica, gcp);
      expect(served.status).toBe(200);
      expect(audit.find((e) => e.request_id === served.headers.get('x-request-id'))?.cache).toBe('hit');
    }

    await redis.start();
    // The replicas reconnect on their own (capped backoff); wait for it, bounded.
    for (let i = 0; i < 100 && !sb.storeReady(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(sb.storeReady()).toBe(true);
    for (const replica of sb.replicas) expect((await exchangeAt(replica, await n8nAssertion(sb))).status).toBe(200);
  });
});

describe('sandbox replicas without Redis', () => {
  it('issue 9 item 3: SANDBOX_REPLICAS above 1 without SANDBOX_REDIS_URL refuses to start and says what to set', async () => {
    await expect(startSandbox({ port: 0, env: { SANDBOX_REPLICAS: '2' } })).rejects.toThrow(
      /SANDBOX_REPLICAS=2 needs SANDBOX_REDIS_URL/,
    );
  });

  it('issue 9 item 3: a sandbox without Redis has one replica and the memory store', async () => {
    const sb = await startSandbox({ port: 0, env: {} });
    try {
      const manifest = (await (await fetch(`${sb.url}/_sandbox`)).json()) as Record<string, unknown>;
      expect(manifest.replicas).toEqual([sb.url]);
      expect(manifest.store).toBe('memory');
    } finally {
      await sb.close();
    }
  });
});

describe.skipIf(ownSkip !== undefined)('readiness and metrics follow a configured Redis', () => {
  let redis: OwnRedis;
  let sb: Sandbox;
  beforeAll(async () => {
    redis = await ownRedis();
    sb = await startSandbox({ port: 0, redisUrl: redis.url, audit: () => {} });
  });
  afterAll(async () => {
    await sb?.close();
    await redis?.stop();
  });

  const readyz = async () => {
    const res = await fetch(`${sb.url}/readyz`);
    return { status: res.status, body: (await res.json()) as { status: string; checks: Record<string, string> } };
  };

  it('issue 9 item 5: /readyz is 503 while the configured Redis is unreachable and 200 again when it returns; /metrics counts the Redis and replay-store errors', async () => {
    expect(await readyz()).toEqual({
      status: 200,
      body: expect.objectContaining({ status: 'ready', checks: { signing_key: 'ok', policy: 'ok', redis: 'ok' } }),
    });

    await redis.stop();
    for (let i = 0; i < 100 && sb.storeReady(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await readyz()).toEqual({
      status: 503,
      body: expect.objectContaining({
        status: 'not_ready',
        checks: { signing_key: 'ok', policy: 'ok', redis: 'failing' },
      }),
    });
    expect((await exchangeAt(sb.url, await n8nAssertion(sb))).status).toBe(503);
    // A reconnect attempt that fails is a Redis error; the client makes one within its backoff (bounded wait).
    const redisErrors = /^bridge_store_errors_total\{store="redis",condition="connection_error"\} [1-9]\d*$/m;
    let during = '';
    for (let i = 0; i < 100 && !redisErrors.test(during); i++) {
      during = await (await fetch(`${sb.url}/metrics`)).text();
      if (!redisErrors.test(during)) await new Promise((r) => setTimeout(r, 50));
    }
    expect(during).toMatch(redisErrors);
    expect(during).toMatch(/^bridge_store_errors_total\{store="replay",condition="unreachable"\} 1$/m);
    expect(during).toMatch(/^bridge_store_events_total\{store="redis",event="replay_errors"\} 1$/m);

    await redis.start();
    for (let i = 0; i < 100 && !sb.storeReady(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await readyz()).toEqual({
      status: 200,
      body: expect.objectContaining({ status: 'ready', checks: { signing_key: 'ok', policy: 'ok', redis: 'ok' } }),
    });
  });
});
