/**
 * The shared verified-proof cache (docs/redis.md, the shared verified-proof cache): the Redis tier
 * against a real redis-server (TEST_REDIS_URL), and how the exchange consults it: only for proofs
 * verified by an upstream call, only after the in-process cache missed, never for a longer time than
 * the replica that verified the proof allowed.
 */
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { verificationOnlyDeps } from '../support/verification-only-deps.ts';
import type { AuditEvent } from '../../src/audit/audit.ts';
import { TOKEN_TYPE } from '../../src/constants.ts';
import type { RecalledProof, SharedVerifiedProofs } from '../../src/store/ports.ts';
import { createRedisStores, type RedisStores } from '../../src/store/redis/index.ts';
import type { RedisVerifiedProofs } from '../../src/store/redis/verified-proofs.ts';
import { verifyAndDecide, type ExchangeDeps } from '../../src/token/exchange.ts';
import type { TokenRequest } from '../../src/token/request.ts';
import { accept, type VerifiedWorkload, type WorkloadVerifier } from '../../src/verify/contract.ts';
import { VERIFIED_PROOF_TTL_SEC } from '../../src/verify/verified-cache.ts';
import { inspector, sharedRedisSkipReason, TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';

const skip = sharedRedisSkipReason();
const NOW = 1_800_000_000;
const SECRET = new Uint8Array(32).fill(9);

const workload = (over: Partial<VerifiedWorkload> = {}): VerifiedWorkload => ({
  platform: 'aws',
  proofKind: 'aws-sigv4-gci',
  issuer: 'https://sts.us-east-1.amazonaws.com',
  principal: 'arn:aws:iam::111122223333:role/agent',
  expiresAt: NOW + 900,
  proofId: 'a'.repeat(64),
  attributes: { account: '111122223333' },
  auditContext: { sts_host: 'sts.us-east-1.amazonaws.com' },
  ...over,
});

const opened: RedisStores[] = [];
async function replica(prefix: string, over: { url?: string; secret?: Uint8Array } = {}): Promise<RedisVerifiedProofs> {
  const stores = createRedisStores(
    { url: over.url ?? TEST_REDIS_URL!, keyPrefix: prefix, sharedCacheSecret: over.secret ?? SECRET },
    { clock: () => NOW, rateLimitPerMinute: 600, rateLimitMaxKeys: 1000, replayQuotaPerIssuer: 1000, log: () => {} },
  );
  opened.push(stores);
  await stores.waitReady(over.url ? 300 : undefined);
  return stores.sharedProofs!;
}
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
});

async function onlyKey(prefix: string): Promise<string> {
  const client = inspector(TEST_REDIS_URL!);
  try {
    const keys = await client.keys(`${prefix}proof:*`);
    expect(keys).toHaveLength(1);
    return keys[0]!;
  } finally {
    client.disconnect();
  }
}

describe.skipIf(skip !== undefined)('the shared verified-proof cache on Redis', () => {
  it('issue 9 item 1: a workload one replica stored is recalled by another with its bound; another platform or key is a miss', async () => {
    const prefix = uniquePrefix('proofs-recall');
    const [a, b] = [await replica(prefix), await replica(prefix)];
    await a.remember('aws\naud\ncanonical', workload(), NOW + 300, NOW);
    expect(await b.recall('aws\naud\ncanonical', 'aws', NOW + 1)).toEqual({ workload: workload(), until: NOW + 300 });
    expect(await b.recall('aws\naud\nother', 'aws', NOW + 1)).toBeUndefined();
    expect(await b.recall('aws\naud\ncanonical', 'gcp', NOW + 1)).toBeUndefined();
    // Another key derives other names as well: it does not even find the value.
    const stranger = await replica(prefix, { secret: new Uint8Array(32).fill(1) });
    expect(await stranger.recall('aws\naud\ncanonical', 'aws', NOW + 1)).toBeUndefined();
    expect(stranger.stats).toMatchObject({ hits: 0, misses: 1 });
    expect(b.stats).toMatchObject({ hits: 1, misses: 2 });
  });

  it('issue 9 item 1: the bound inside the sealed value holds even when Redis keeps the value longer (TTL removed in Redis)', async () => {
    const prefix = uniquePrefix('proofs-until');
    const r = await replica(prefix);
    await r.remember('k', workload(), NOW + 300, NOW);
    const client = inspector(TEST_REDIS_URL!);
    try {
      expect(await client.persist(await onlyKey(prefix))).toBe(1);
    } finally {
      client.disconnect();
    }
    expect(await r.recall('k', 'aws', NOW + 299)).toBeDefined();
    expect(await r.recall('k', 'aws', NOW + 300)).toBeUndefined();
  });

  it('issue 9 item 1: a value moved under another key name, or changed by one bit, does not open: a miss', async () => {
    const prefix = uniquePrefix('proofs-tamper');
    const r = await replica(prefix);
    await r.remember('first', workload(), NOW + 300, NOW);
    const firstName = await onlyKey(prefix);
    const client = inspector(TEST_REDIS_URL!);
    try {
      const sealed = (await client.getBuffer(firstName))!;
      await client.del(firstName);
      await r.remember('second', workload({ principal: 'arn:aws:iam::111122223333:role/other' }), NOW + 300, NOW);
      const secondName = await onlyKey(prefix);
      // The first proof's value under the second proof's name: authenticated to another name.
      await client.set(secondName, sealed, 'PX', 60_000);
      expect(await r.recall('second', 'aws', NOW + 1)).toBeUndefined();
      const flipped = Buffer.from(sealed);
      flipped[flipped.length - 1]! ^= 0x80;
      await client.set(firstName, flipped, 'PX', 60_000);
      expect(await r.recall('first', 'aws', NOW + 1)).toBeUndefined();
    } finally {
      client.disconnect();
    }
    expect(r.stats.undecryptable).toBe(2);
  });

  it('issue 9 item 1: a single-use workload is never stored; nothing past the proof or the in-process bound is stored', async () => {
    const prefix = uniquePrefix('proofs-single-use');
    const r = await replica(prefix);
    await r.remember('n8n', workload({ singleUse: { partition: 'i', usableUntil: NOW + 360 } }), NOW + 300, NOW);
    await r.remember('expired', workload(), NOW, NOW);
    const client = inspector(TEST_REDIS_URL!);
    try {
      expect(await client.keys(`${prefix}*`)).toEqual([]);
      await r.remember('ok', workload(), NOW + 120, NOW);
      const ttl = await client.pttl(await onlyKey(prefix));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(120_000);
    } finally {
      client.disconnect();
    }
  });
});

describe('the shared verified-proof cache when Redis does not answer', () => {
  it('issue 9 item 1: recall is a miss and remember is dropped, neither throws', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = srv.address() as net.AddressInfo;
        srv.close(() => resolve(p));
      });
    });
    const down = await replica(uniquePrefix('proofs-down'), { url: `redis://127.0.0.1:${port}` });
    await expect(down.remember('k', workload(), NOW + 300, NOW)).resolves.toBeUndefined();
    await expect(down.recall('k', 'aws', NOW + 1)).resolves.toBeUndefined();
    expect(down.stats).toMatchObject({ errors: 2, misses: 1, hits: 0 });
  });
});

/** An in-memory stand-in for the port, to see when the exchange asks it (not a claim about Redis). */
class RecordingShared implements SharedVerifiedProofs {
  readonly entries = new Map<string, RecalledProof>();
  readonly asked: string[] = [];
  async recall(key: string, _platform: string, now: number): Promise<RecalledProof | undefined> {
    this.asked.push(key);
    const e = this.entries.get(key);
    return e && e.until > now ? e : undefined;
  }
  async remember(key: string, w: VerifiedWorkload, until: number): Promise<void> {
    this.entries.set(key, { workload: w, until });
  }
}

function verifierOf(over: Partial<WorkloadVerifier>, verified: string[]): WorkloadVerifier {
  return {
    platform: 'aws',
    tokenTypes: [TOKEN_TYPE.aws4Request],
    accepts: () => true,
    canonicalKey: (input) => accept(input.token.trim()),
    verifiedRemotely: true,
    async verify(input) {
      verified.push(input.token);
      return accept(workload());
    },
    ...over,
  };
}

const exchangeDeps = (verifier: WorkloadVerifier, shared: SharedVerifiedProofs, clock: { now: number }): ExchangeDeps =>
  verificationOnlyDeps(verifier, { now: () => clock.now, sharedProofs: shared });

const request = (token: string, tokenType: string = TOKEN_TYPE.aws4Request): TokenRequest => ({
  mode: 'autonomous',
  proof: { token, tokenType },
  userToken: undefined,
  resource: 'https://graph.microsoft.com',
  scopes: ['https://graph.microsoft.com/.default'],
  agent: undefined,
  agentUser: undefined,
  agentUserRaw: undefined,
});
const audit = (): AuditEvent => ({ time: '', request_id: 'r', route: '/token', outcome: 'denied' });
const present = (d: ExchangeDeps, token: string, tokenType?: string) =>
  expect(verifyAndDecide(d, request(token, tokenType), audit())).rejects.toMatchObject({ reason: 'rate_limited' });

describe('issue 9 item 1: how the exchange uses the shared verified-proof cache', () => {
  it('issue 9 item 1: one replica verifies and shares; another recalls instead of verifying; each asks only on its in-process miss', async () => {
    const shared = new RecordingShared();
    const clock = { now: NOW };
    const verifiedA: string[] = [];
    const verifiedB: string[] = [];
    const a = exchangeDeps(verifierOf({}, verifiedA), shared, clock);
    const b = exchangeDeps(verifierOf({}, verifiedB), shared, clock);
    await present(a, 'signed request');
    await present(b, ' signed request');
    await present(b, ' signed request');
    await present(b, 'signed request');
    expect({ a: verifiedA.length, b: verifiedB.length }).toEqual({ a: 1, b: 0 });
    // A asked once (miss) before verifying; B once, then answered from its own in-process cache.
    expect(shared.asked).toHaveLength(2);
    // The lookup key binds the platform and the bridge audience to the proof's canonical form.
    expect(shared.asked[0]!.startsWith('aws\nhttps://bridge.example.test\n')).toBe(true);
  });

  it('issue 9 item 1: a recalled proof is kept in-process no longer than the verifying replica allowed, not a fresh TTL from the recall', async () => {
    const shared = new RecordingShared();
    const clock = { now: NOW };
    const verifiedA: string[] = [];
    const verifiedB: string[] = [];
    await present(exchangeDeps(verifierOf({}, verifiedA), shared, clock), 'p');
    const b = exchangeDeps(verifierOf({}, verifiedB), shared, clock);
    clock.now = NOW + VERIFIED_PROOF_TTL_SEC - 10;
    await present(b, 'p');
    expect(verifiedB).toHaveLength(0);
    // Past A's bound (verified at NOW): B's in-process entry is gone as well, and so is the shared one.
    clock.now = NOW + VERIFIED_PROOF_TTL_SEC;
    await present(b, 'p');
    expect(verifiedB).toHaveLength(1);
  });

  it('issue 9 item 1: proofs verified locally (JWTs) and single-use proofs never reach the shared cache', async () => {
    const shared = new RecordingShared();
    const clock = { now: NOW };
    const verified: string[] = [];
    const jwt = exchangeDeps(
      verifierOf({ verifiedRemotely: undefined, tokenTypes: [TOKEN_TYPE.jwt], canonicalKey: undefined }, verified),
      shared,
      clock,
    );
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIn0.c2ln';
    await present(jwt, token, TOKEN_TYPE.jwt);
    const singleUse = exchangeDeps(verifierOf({ singleUse: true }, verified), shared, clock);
    await present(singleUse, 'once');
    await present(singleUse, 'once');
    expect(verified).toHaveLength(3);
    expect({ asked: shared.asked.length, stored: shared.entries.size }).toEqual({ asked: 0, stored: 0 });
  });
});
