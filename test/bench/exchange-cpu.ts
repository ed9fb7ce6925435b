/**
 * The CPU time of the exchange itself, in process and without HTTP: `exchange()` of src/token/exchange.ts
 * on the sandbox's dependencies (limits lifted, as in `npm run bench`), from a parsed request to the
 * agent token, with the audit line serialised as the app does. Where `npm run bench` measures a whole
 * server against its floors, this isolates the bridge's own work per request, which moves far less when
 * the machine is shared (no sockets, no load generator). Per scenario: microseconds of process CPU
 * (user + system, all threads) per exchange, the median of several rounds, 32 exchanges in flight.
 *
 *   npx node --expose-gc test/bench/exchange-cpu.ts [--rounds 5] [--requests 3000]
 */
import { parseArgs } from 'node:util';
import { importJWK, SignJWT, type JWK } from 'jose';
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
  options: { rounds: { type: 'string', default: '5' }, requests: { type: 'string', default: '3000' } },
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

/** CPU µs per exchange over `count` exchanges, `IN_FLIGHT` at a time; every one must be served. */
async function cpuPerExchange(count: number, tokenAt: (i: number) => string, tokenType: string): Promise<number> {
  (globalThis as { gc?: () => void }).gc?.();
  const start = process.cpuUsage();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count) {
        const i = next++;
        const audit: AuditEvent = {
          time: new Date().toISOString(),
          request_id: crypto.randomUUID(),
          route: '/token',
          outcome: 'error',
        };
        await exchange(deps, request(tokenAt(i), tokenType), audit, { address: '127.0.0.1' });
        JSON.stringify(audit);
      }
    }),
  );
  const used = process.cpuUsage(start);
  return (used.user + used.system) / count;
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

const scenarios: { id: string; run: () => Promise<number> }[] = [
  { id: 'warm-gcp', run: () => cpuPerExchange(REQUESTS, () => warmGcp, TOKEN_TYPE.idToken) },
  { id: 'aws-cached', run: () => cpuPerExchange(REQUESTS, () => awsProof, TOKEN_TYPE.aws4Request) },
  {
    id: 'fresh-gcp',
    run: () => cpuPerExchange(REQUESTS, () => gcpPool[gcpNext++ % gcpPool.length]!, TOKEN_TYPE.idToken),
  },
  {
    id: 'fresh-n8n',
    run: async () => {
      const tokens = await mintN8n(REQUESTS);
      return cpuPerExchange(REQUESTS, (i) => tokens[i]!, TOKEN_TYPE.jwt);
    },
  },
];

// Warm-up: each path compiled, every GCP token of the pool verified once (the cache then evicts in order).
for (const s of scenarios) await s.run();
const results = new Map<string, number[]>(scenarios.map((s) => [s.id, []]));
for (let r = 0; r < ROUNDS; r++) for (const s of scenarios) results.get(s.id)!.push(await s.run());
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`exchange CPU per request, in process (node ${process.version}, ${ROUNDS} rounds of ${REQUESTS}):`);
for (const [id, xs] of results)
  console.log(
    `  ${id.padEnd(11)} median ${median(xs).toFixed(0).padStart(5)} µs   rounds ${xs.map((x) => x.toFixed(0)).join(' ')}`,
  );
await sb.close();
