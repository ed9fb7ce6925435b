/**
 * The shared verified-proof cache across two replicas on one real Redis (docs/redis.md, the shared
 * verified-proof cache): a signed GetCallerIdentity one replica verified at STS is recalled by the
 * other, not verified again; a value changed in Redis is a miss and the proof is verified at STS
 * again; with Redis stopped, proofs are still verified at STS and exchanged; JWT proofs are never
 * put in Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signGetCallerIdentityProof } from '../../adapters/aws/client.ts';
import type { AuditEvent } from '../../src/audit/audit.ts';
import { TOKEN_TYPE } from '../../src/constants.ts';
import type { AwsSandboxPlatform } from '../../sandbox/platforms/aws.ts';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';
import { DEFAULT_CREDENTIALS } from '../emulators/sts/index.ts';
import { postToken, type TokenResponse } from '../support/http.ts';
import {
  inspector,
  ownRedis,
  ownRedisSkipReason,
  sharedRedisSkipReason,
  TEST_REDIS_URL,
  uniquePrefix,
  type OwnRedis,
} from '../support/redis.ts';
import { signN8nAssertion } from '../workers/harness/n8n-assertion.ts';

const sharedSkip = sharedRedisSkipReason();
const ownSkip = ownRedisSkipReason();

/** Proof i is signed i seconds before the test started: distinct i are distinct signed requests. */
const started = Math.floor(Date.now() / 1000);
const signedGetCallerIdentity = (sb: Sandbox, i: number) =>
  signGetCallerIdentityProof({
    credentials: DEFAULT_CREDENTIALS.sandbox,
    audience: sb.url,
    region: 'us-east-1',
    signingDate: new Date((started - i) * 1000),
  });

function exchangeAt(replica: string, subjectToken: string, tokenType: string = TOKEN_TYPE.aws4Request) {
  return postToken(replica, { subject_token: subjectToken, subject_token_type: tokenType, resource: SANDBOX.graph });
}

function stsOf(sb: Sandbox): AwsSandboxPlatform['emulator'] {
  return (sb.platforms.find((p) => p.name === 'aws') as AwsSandboxPlatform).emulator;
}

function reasonOf(audit: AuditEvent[], res: TokenResponse): string | undefined {
  return audit.find((e) => e.request_id === res.headers.get('x-request-id'))?.reason;
}

async function metricsOf(replica: string): Promise<string> {
  return (await fetch(`${replica}/metrics`)).text();
}

async function keysUnder(url: string, pattern: string): Promise<string[]> {
  const client = inspector(url);
  try {
    return await client.keys(pattern);
  } finally {
    client.disconnect();
  }
}

describe.skipIf(sharedSkip !== undefined)('the shared verified-proof cache on two replicas', () => {
  const prefix = uniquePrefix('shared-proofs');
  const audit: AuditEvent[] = [];
  let sb: Sandbox;
  let a: string;
  let b: string;
  beforeAll(async () => {
    sb = await startSandbox({
      port: 0,
      replicas: 2,
      redisUrl: TEST_REDIS_URL!,
      overrides: { BRIDGE_REDIS_KEY_PREFIX: prefix },
      audit: (e) => audit.push(e),
    });
    [a, b] = sb.replicas as [string, string];
  });
  afterAll(() => sb?.close());

  it('issue 9 item 1: the same signed GetCallerIdentity presented to replica A, then B, makes exactly one STS call', async () => {
    const proof = await signedGetCallerIdentity(sb, 1);
    stsOf(sb).resetCalls();
    const first = await exchangeAt(a, proof);
    const second = await exchangeAt(b, proof);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(stsOf(sb).count('GetCallerIdentity')).toBe(1);
    // B took the workload A verified: same principal in both audit lines.
    const principals = [first, second].map(
      (r) => audit.find((e) => e.request_id === r.headers.get('x-request-id'))?.principal,
    );
    expect(principals[0]).toEqual(expect.any(String));
    expect(principals[1]).toBe(principals[0]);
    expect(await metricsOf(b)).toMatch(/^bridge_cache_hits_total\{cache="verified_proof_shared"\} 1$/m);
    expect(await metricsOf(a)).toMatch(/^bridge_cache_misses_total\{cache="verified_proof_shared"\} 1$/m);
  });

  it('issue 9 item 1: the audit line says where the workload came from: verified on A, recalled from Redis on B, then from B itself', async () => {
    const proof = await signedGetCallerIdentity(sb, 4);
    const responses = [await exchangeAt(a, proof), await exchangeAt(b, proof), await exchangeAt(b, proof)];
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
    const lines = responses.map((r) => audit.find((e) => e.request_id === r.headers.get('x-request-id')));
    expect(lines.map((e) => e?.proof_verification)).toEqual(['verified', 'recalled_shared', 'recalled']);
  });

  it('issue 9 item 1: nothing of the proof is in Redis in clear: the key name is an HMAC and the value is ciphertext', async () => {
    const proof = await signedGetCallerIdentity(sb, 2);
    expect((await exchangeAt(a, proof)).status).toBe(200);
    const keys = await keysUnder(TEST_REDIS_URL!, `${prefix}proof:*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(key).toMatch(new RegExp(`^${escapeRegExp(prefix)}proof:[0-9a-f]{64}$`));
    const client = inspector(TEST_REDIS_URL!);
    try {
      for (const key of keys) {
        const value = (await client.getBuffer(key))!.toString('latin1');
        for (const clear of ['arn:aws', DEFAULT_CREDENTIALS.sandbox.account, 'GetCallerIdentity', 'aws-sigv4'])
          expect(value).not.toContain(clear);
        // Never past the in-process cache's 5 minutes.
        expect(await client.pttl(key)).toBeLessThanOrEqual(300_000);
      }
    } finally {
      client.disconnect();
    }
  });

  it('issue 9 item 1: a stored value changed in Redis (one byte flipped) is a miss: the proof is verified at STS again, never trusted', async () => {
    const proof = await signedGetCallerIdentity(sb, 3);
    const before = new Set(await keysUnder(TEST_REDIS_URL!, `${prefix}proof:*`));
    stsOf(sb).resetCalls();
    expect((await exchangeAt(a, proof)).status).toBe(200);
    const added = (await keysUnder(TEST_REDIS_URL!, `${prefix}proof:*`)).filter((k) => !before.has(k));
    expect(added).toHaveLength(1);
    const client = inspector(TEST_REDIS_URL!);
    try {
      const value = (await client.getBuffer(added[0]!))!;
      value[Math.floor(value.length / 2)]! ^= 0x01;
      await client.set(added[0]!, value, 'KEEPTTL');
    } finally {
      client.disconnect();
    }
    const again = await exchangeAt(b, proof);
    expect(again.status).toBe(200);
    expect(stsOf(sb).count('GetCallerIdentity')).toBe(2);
    expect(await metricsOf(b)).toMatch(
      /^bridge_store_events_total\{store="redis",event="proof_cache_undecryptable"\} 1$/m,
    );
  });

  it('issue 9 item 1: JWT proofs (verified locally) and single-use n8n assertions are never put in the shared verified-proof cache', async () => {
    const before = (await keysUnder(TEST_REDIS_URL!, `${prefix}proof:*`)).length;
    const gcp = await sb.gcp.emulator.mintIdToken({ audience: sb.url, format: 'full' });
    for (const replica of sb.replicas) expect((await exchangeAt(replica, gcp, TOKEN_TYPE.jwt)).status).toBe(200);
    const m = sb.manifest.n8n as { instanceId: string; workflowId: string; privateJwk: Record<string, string> };
    const assertion = await signN8nAssertion({
      privateJwk: m.privateJwk,
      instanceId: m.instanceId,
      workflowId: m.workflowId,
      audience: `${sb.url}/token`,
    });
    expect((await exchangeAt(a, assertion, TOKEN_TYPE.jwt)).status).toBe(200);
    const replayed = await exchangeAt(b, assertion, TOKEN_TYPE.jwt);
    expect(replayed.status).toBe(400);
    expect(reasonOf(audit, replayed)).toBe('proof_replayed');
    expect(await keysUnder(TEST_REDIS_URL!, `${prefix}proof:*`)).toHaveLength(before);
  });
});

describe.skipIf(ownSkip !== undefined)('the shared verified-proof cache with Redis stopped', () => {
  let redis: OwnRedis;
  let sb: Sandbox;
  beforeAll(async () => {
    redis = await ownRedis();
    sb = await startSandbox({ port: 0, replicas: 2, redisUrl: redis.url, audit: () => {} });
  });
  afterAll(async () => {
    await sb?.close();
    await redis?.stop();
  });

  it('issue 9 item 1: a signed GetCallerIdentity is still verified at STS and exchanged on both replicas, never refused for the cache', async () => {
    await redis.stop();
    for (let i = 0; i < 100 && sb.storeReady(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(sb.storeReady()).toBe(false);
    const proof = await signedGetCallerIdentity(sb, 4);
    stsOf(sb).resetCalls();
    for (const replica of sb.replicas) expect((await exchangeAt(replica, proof)).status).toBe(200);
    // Nothing shared while Redis is away: each replica verified it itself.
    expect(stsOf(sb).count('GetCallerIdentity')).toBe(2);
  });
});

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
