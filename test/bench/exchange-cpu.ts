/**
 * The CPU time of the exchange itself, in process and without HTTP: `exchange()` of src/token/exchange.ts
 * on the sandbox's dependencies (limits lifted, as in `npm run bench`), from a parsed request to the
 * agent token, with the audit line serialised as the app does. Where `npm run bench` measures a whole
 * server against its floors, this isolates the bridge's own work per request, which moves far less when
 * the machine is shared (no sockets, no load generator). Per scenario: microseconds of process CPU
 * (user + system, all threads) per exchange, the median of several rounds, 32 exchanges in flight.
 *
 * The in-process floors are what `npm run bench`'s verifying floors do beyond HTTP (./floor-process.ts):
 * one jose `jwtVerify` of the same tokens with the same public key (the GCP emulator's RS256 key, the n8n
 * instance's ES256 key), measured the same way in the same run. HTTP costs a floor what it costs the
 * bridge, so `floor ÷ bridge` here is the figure that compares the two on a shared machine.
 *
 *   npx node --expose-gc test/bench/exchange-cpu.ts [--rounds 5] [--requests 3000] [--only fresh-gcp,floor-rs256]
 *                                       [--profile out.cpuprofile]   (the timed rounds only, for ./profile-summary.ts)
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { signGetCallerIdentityProof } from '../../adapters/aws/client.ts';
import { SANDBOX_N8N } from '../../sandbox/platforms/n8n.ts';
import { startSandbox } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';
import type { AuditEvent } from '../../src/audit/audit.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE, VERIFIED_PROOF_CACHE_MAX_ENTRIES } from '../../src/constants.ts';
import { exchange } from '../../src/token/exchange.ts';
import { parseTokenRequest } from '../../src/token/request.ts';
import { DEFAULT_CREDENTIALS } from '../emulators/sts/index.ts';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    requests: { type: 'string', default: '3000' },
    // A subset of the scenarios, by id (e.g. to profile one with `node --cpu-prof`).
    only: { type: 'string' },
    // A CPU profile of the timed rounds, without start-up, minting and warm-up
    // (https://nodejs.org/api/inspector.html#cpu-profiler).
    profile: { type: 'string' },
  },
});
const ROUNDS = Math.max(1, Number(flags.rounds));
const REQUESTS = Math.max(100, Number(flags.requests));
const IN_FLIGHT = 32;

const sb = await startSandbox({ port: 0, liftLimits: true, audit: () => {} });
const deps = sb.deps;

const form = (fields: Record<string, string>) =>
  new Map(Object.entries({ grant_type: GRANT_TYPE_TOKEN_EXCHANGE, resource: SANDBOX.graph, ...fields }));
const request = (token: string, tokenType: string) =>
  parseTokenRequest(form({ subject_token: token, subject_token_type: tokenType }), deps.proofTokenTypes);

async function mintGcp(count: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i += 64)
    out.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(64, count - i) }, (_, j) =>
          sb.gcp.emulator.mintIdToken({ audience: sb.url, format: 'full', claims: { nonce: `cpu-${i + j}` } }),
        ),
      )),
    );
  return out;
}

const n8n = sb.manifest.n8n as { privateJwk: JWK & { kid: string }; audience: string };
const n8nKey = await importJWK(n8n.privateJwk, 'ES256');
async function mintN8n(count: number): Promise<string[]> {
  const now = Math.floor(Date.now() / 1000);
  return Promise.all(
    Array.from({ length: count }, () =>
      new SignJWT({ sub: `n8n:${SANDBOX_N8N.instanceId}:workflow:${SANDBOX_N8N.workflowId}` })
        .setProtectedHeader({ alg: 'ES256', kid: n8n.privateJwk.kid, typ: 'JWT' })
        .setIssuer(`n8n:${SANDBOX_N8N.instanceId}`)
        .setAudience(n8n.audience)
        .setIssuedAt(now)
        .setExpirationTime(now + 300)
        .setJti(crypto.randomUUID())
        .sign(n8nKey),
    ),
  );
}

/** CPU µs per call of `each` over `count` calls, `IN_FLIGHT` at a time; every one must succeed. */
async function cpuPer(count: number, each: (i: number) => Promise<unknown>): Promise<number> {
  (globalThis as { gc?: () => void }).gc?.();
  const start = process.cpuUsage();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count) await each(next++);
    }),
  );
  const used = process.cpuUsage(start);
  return (used.user + used.system) / count;
}

/** CPU µs per exchange, with the audit line serialised as the app does. */
function cpuPerExchange(count: number, tokenAt: (i: number) => string, tokenType: string): Promise<number> {
  return cpuPer(count, async (i) => {
    const audit: AuditEvent = {
      time: new Date().toISOString(),
      request_id: crypto.randomUUID(),
      route: '/token',
      outcome: 'error',
    };
    await exchange(deps, request(tokenAt(i), tokenType), audit, { address: '127.0.0.1' });
    JSON.stringify(audit);
  });
}

/** CPU µs per verification by the bridge's own verifier of a platform, outside the exchange. */
function cpuPerVerify(count: number, tokenAt: (i: number) => string, platform: string, tokenType: string) {
  const verifier = deps.verifiers.find((v) => v.platform === platform && v.tokenTypes.includes(tokenType))!;
  return cpuPer(count, async (i) => {
    const ctx = { now: deps.clock(), audience: deps.audience, issuer: deps.issuer };
    const result = await verifier.verify({ token: tokenAt(i), tokenType }, ctx);
    if (!result.ok) throw new Error(`${platform} proof refused: ${result.reason}`);
  });
}

/** CPU µs per floor verification: what ./floor-process.ts does per request besides HTTP. */
function cpuPerFloorVerify(count: number, tokenAt: (i: number) => string, key: CryptoKey, alg: string) {
  return cpuPer(count, (i) => jwtVerify(tokenAt(i), key, { algorithms: [alg] }));
}

const warmGcp = (await mintGcp(1))[0]!;
const gcpPool = await mintGcp(VERIFIED_PROOF_CACHE_MAX_ENTRIES + 500);
let gcpNext = 0;
const aws = sb.manifest.aws as { stsHost: string };
const awsProof = await signGetCallerIdentityProof({
  credentials: DEFAULT_CREDENTIALS.sandbox,
  audience: sb.url,
  stsHost: aws.stsHost,
});

const rs256Key = (await importJWK(sb.gcp.emulator.signingKey.publicJwk, 'RS256')) as CryptoKey;
const es256Key = (await importJWK({ ...n8n.privateJwk, d: undefined } as JWK, 'ES256')) as CryptoKey;
let floorGcpNext = 0;
let verifyGcpNext = 0;

const allScenarios: { id: string; floor?: string; run: () => Promise<number> }[] = [
  { id: 'warm-gcp', run: () => cpuPerExchange(REQUESTS, () => warmGcp, TOKEN_TYPE.idToken) },
  { id: 'aws-cached', run: () => cpuPerExchange(REQUESTS, () => awsProof, TOKEN_TYPE.aws4Request) },
  {
    id: 'floor-rs256',
    run: () => cpuPerFloorVerify(REQUESTS, () => gcpPool[floorGcpNext++ % gcpPool.length]!, rs256Key, 'RS256'),
  },
  {
    // The bridge's GCP verifier alone (src/verify/jwt.ts): the floor's jwtVerify plus the bridge's own checks.
    id: 'verify-gcp',
    floor: 'floor-rs256',
    run: () => cpuPerVerify(REQUESTS, () => gcpPool[verifyGcpNext++ % gcpPool.length]!, 'gcp', TOKEN_TYPE.idToken),
  },
  {
    id: 'fresh-gcp',
    floor: 'floor-rs256',
    run: () => cpuPerExchange(REQUESTS, () => gcpPool[gcpNext++ % gcpPool.length]!, TOKEN_TYPE.idToken),
  },
  {
    id: 'floor-es256',
    run: async () => {
      const tokens = await mintN8n(REQUESTS);
      return cpuPerFloorVerify(REQUESTS, (i) => tokens[i]!, es256Key, 'ES256');
    },
  },
  {
    id: 'verify-n8n',
    floor: 'floor-es256',
    run: async () => {
      const tokens = await mintN8n(REQUESTS);
      return cpuPerVerify(REQUESTS, (i) => tokens[i]!, 'n8n', TOKEN_TYPE.jwt);
    },
  },
  {
    id: 'fresh-n8n',
    floor: 'floor-es256',
    run: async () => {
      const tokens = await mintN8n(REQUESTS);
      return cpuPerExchange(REQUESTS, (i) => tokens[i]!, TOKEN_TYPE.jwt);
    },
  },
];
const only = flags.only?.split(',');
const scenarios = allScenarios.filter((s) => only === undefined || only.includes(s.id));

// Warm-up: each path compiled, every GCP token of the pool verified once (the cache then evicts in order).
for (const s of scenarios) await s.run();
const results = new Map<string, number[]>(scenarios.map((s) => [s.id, []]));
const profiler = flags.profile === undefined ? undefined : new Session();
if (profiler) {
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.start');
}
for (let r = 0; r < ROUNDS; r++) for (const s of scenarios) results.get(s.id)!.push(await s.run());
if (profiler) {
  const { profile } = await profiler.post('Profiler.stop');
  writeFileSync(flags.profile!, JSON.stringify(profile));
  profiler.disconnect();
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`exchange CPU per request, in process (node ${process.version}, ${ROUNDS} rounds of ${REQUESTS}):`);
for (const s of scenarios) {
  const xs = results.get(s.id)!;
  const floor = s.floor === undefined ? undefined : results.get(s.floor);
  // floor ÷ bridge, as `npm run bench` reports CPU: 1 = the floor's work per request, 0.8 = 25 % more.
  const ratio = floor === undefined ? '' : `   floor ÷ bridge ${(median(floor) / median(xs)).toFixed(2)}`;
  console.log(
    `  ${s.id.padEnd(11)} median ${median(xs).toFixed(0).padStart(5)} µs   rounds ${xs.map((x) => x.toFixed(0)).join(' ')}${ratio}`,
  );
}
await sb.close();
