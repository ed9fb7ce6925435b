/**
 * Where a shared verified-proof cache pays (docs/redis.md, the shared verified-proof cache): the
 * cost of verifying a proof again on another replica against the cost of recalling it from Redis.
 * - JWT: jose's jwtVerify of an RS256 (2048-bit) and an ES256 token with the key at hand (the
 *   verifiers' JWKS are cached, so this is what a re-presented JWT costs a replica that missed).
 * - AWS kind 1: the adapter's verification of a signed GetCallerIdentity, including the call to the
 *   STS emulator on loopback (a lower bound: real STS is a TLS round trip to AWS).
 * - Redis: the shared cache's recall of a stored workload (GET, AES-256-GCM open, JSON, checks),
 *   a recall that misses, and a write.
 * Sequential, one operation at a time, after a warm-up; medians and 99th percentiles in µs.
 * Usage: node test/bench/verified-proof-costs.ts  (uses TEST_REDIS_URL, else starts redis-server).
 */
import { generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { createAwsVerifiers } from '../../adapters/aws/index.ts';
import { signGetCallerIdentityProof } from '../../adapters/aws/client.ts';
import { TOKEN_TYPE } from '../../src/constants.ts';
import { createBoundedFetch } from '../../src/net/bounded-fetch.ts';
import { createRedisStores } from '../../src/store/redis/index.ts';
import type { VerifiedWorkload } from '../../src/verify/contract.ts';
import { DEFAULT_CREDENTIALS, startStsEmulator } from '../emulators/sts/index.ts';
import { ownRedis, uniquePrefix, type OwnRedis } from '../support/redis.ts';

const RUNS = Number(process.env.RUNS ?? 2000);
const WARMUP = 200;
const AUDIENCE = 'https://bridge.example.test';

async function timeIt(label: string, op: (i: number) => Promise<unknown>, runs = RUNS): Promise<void> {
  for (let i = 0; i < WARMUP; i++) await op(i);
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await op(i);
    samples.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!.toFixed(0);
  console.log(`${label.padEnd(64)} median ${at(0.5).padStart(6)} µs   p99 ${at(0.99).padStart(6)} µs   (n=${runs})`);
}

async function jwtCosts(): Promise<void> {
  for (const alg of ['RS256', 'ES256'] as const) {
    const { publicKey, privateKey } = await generateKeyPair(alg, alg === 'RS256' ? { modulusLength: 2048 } : {});
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ email: 'agent@example.iam.gserviceaccount.com' })
      .setProtectedHeader({ alg, kid: 'k1' })
      .setIssuer('https://accounts.google.com')
      .setAudience(AUDIENCE)
      .setSubject('112233445566778899000')
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(privateKey);
    await timeIt(`JWT ${alg}: jwtVerify (signature and claims)`, () =>
      jwtVerify(token, publicKey, { issuer: 'https://accounts.google.com', audience: AUDIENCE }),
    );
  }
}

async function awsCosts(): Promise<void> {
  const sts = await startStsEmulator();
  try {
    const proof = await signGetCallerIdentityProof({
      credentials: DEFAULT_CREDENTIALS.sandbox,
      audience: AUDIENCE,
      region: 'us-east-1',
    });
    const deps = {
      fetch: createBoundedFetch({ allowInsecureLoopback: true }),
      clock: () => Math.floor(Date.now() / 1000),
    };
    await timeIt(
      'AWS kind 1: verify, STS emulator on loopback',
      async () => {
        // A verifier of its own each time: its in-process STS cache must not answer.
        const [sigv4] = createAwsVerifiers({ regions: ['us-east-1'], stsEndpointOverride: sts.url }, deps, {
          allowInsecureLoopback: true,
        });
        const r = await sigv4!.verify(
          { token: proof, tokenType: TOKEN_TYPE.aws4Request },
          { now: deps.clock(), audience: AUDIENCE, issuer: AUDIENCE },
        );
        if (!r.ok) throw new Error(`not verified: ${r.reason} ${r.detail}`);
      },
      500,
    );
  } finally {
    await sts.close();
  }
}

async function redisCosts(url: string): Promise<void> {
  const stores = createRedisStores(
    { url, keyPrefix: uniquePrefix('bench-proofs'), sharedCacheSecret: new Uint8Array(32).fill(3) },
    {
      clock: () => Math.floor(Date.now() / 1000),
      rateLimitPerMinute: 600,
      rateLimitMaxKeys: 1000,
      replayQuotaPerIssuer: 1000,
      log: () => {},
    },
  );
  try {
    if (!(await stores.waitReady())) throw new Error(`redis not reachable at ${url}`);
    const shared = stores.sharedProofs!;
    const now = Math.floor(Date.now() / 1000);
    const workload: VerifiedWorkload = {
      platform: 'aws',
      proofKind: 'aws-sigv4-gci',
      issuer: 'https://sts.us-east-1.amazonaws.com',
      principal: 'arn:aws:iam::111122223333:role/agent-id-bridge-sandbox-agent',
      expiresAt: now + 900,
      proofId: 'f'.repeat(64),
      attributes: {
        account: '111122223333',
        partition: 'aws',
        role_name: 'agent-id-bridge-sandbox-agent',
        unique_id: 'AROAEMULATEDSANDBOX01',
      },
      auditContext: {
        arn: 'arn:aws:sts::111122223333:assumed-role/agent-id-bridge-sandbox-agent/bedrock-action-group',
        user_id: 'AROAEMULATEDSANDBOX01:bedrock-action-group',
        sts_host: 'sts.us-east-1.amazonaws.com',
        sts_call: 'made',
      },
    };
    const key = `aws\n${AUDIENCE}\n${'c'.repeat(64)}`;
    await timeIt('Redis (loopback): remember a workload (seal, SET PX)', () =>
      shared.remember(key, workload, now + 300, now),
    );
    await timeIt('Redis (loopback): recall a stored workload (GET, open, checks)', async () => {
      if (!(await shared.recall(key, 'aws', now))) throw new Error('not recalled');
    });
    await timeIt('Redis (loopback): recall that misses (GET of an absent key)', (i) =>
      shared.recall(`${key}${i}`, 'aws', now),
    );
  } finally {
    await stores.close();
  }
}

let own: OwnRedis | undefined;
try {
  const redisUrl = process.env.TEST_REDIS_URL ?? (own = await ownRedis()).url;
  console.log(`node ${process.version}, ${RUNS} runs each after ${WARMUP} warm-up runs`);
  await jwtCosts();
  await awsCosts();
  await redisCosts(redisUrl);
} finally {
  await own?.stop();
}
