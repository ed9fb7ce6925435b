/**
 * `npm run bench`: the hot path (verify → policy → cached agent token) measured against baselines
 * taken in the same run, reported as ratios because these machines are noisy.
 *
 * Cases (all in-process through app.fetch unless noted; every loop is bounded in count and time):
 *   baseline  GET /healthz                          the app's fixed cost per request
 *   baseline  jose jwtVerify of the same ID token    the unavoidable RS256 verification
 *   hot path  POST /token, same proof again          verified-proof cache + policy + token cache hit
 *   hot path  POST /token, a new proof each time     RS256 verify + policy + token cache hit
 *   hot path  POST /token over loopback HTTP, 16 concurrent
 */
import { createLocalJWKSet, jwtVerify } from 'jose';
import { TOKEN_TYPE, GRANT_TYPE_TOKEN_EXCHANGE } from '../../src/constants.ts';
import { createApp } from '../../src/app.ts';
import { startSandbox } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';

const MAX_MS = Number(process.env.BENCH_MS ?? 2000);
const MAX_OPS = 200_000;

/** Consume a response, insisting on 200: a benchmark of refusals measures nothing. */
async function ok(res: Response | Promise<Response>): Promise<void> {
  const r = await res;
  if (r.status !== 200) throw new Error(`benchmark request answered ${r.status}: ${await r.text()}`);
  await r.arrayBuffer();
}

async function measure(name: string, op: () => Promise<unknown>, concurrency = 1, maxOps = MAX_OPS): Promise<{ name: string; opsPerSec: number; ops: number }> {
  for (let i = 0; i < Math.min(200, maxOps / 2); i++) await op(); // warm-up
  let ops = 0;
  const started = performance.now();
  const deadline = started + MAX_MS;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline && ops < maxOps) {
        await op();
        ops++;
      }
    }),
  );
  const secs = (performance.now() - started) / 1000;
  return { name, opsPerSec: ops / secs, ops };
}

// The rate limits (per principal, and per client and issuer before verification) would turn most of
// these into 429s: lift them for the measurement.
const LIFTED = '1000000';
const sb = await startSandbox({
  port: 0,
  audit: () => {},
  overrides: { BRIDGE_RATE_LIMIT_PER_MINUTE: LIFTED, BRIDGE_CLIENT_RATE_LIMIT_PER_MINUTE: LIFTED, BRIDGE_ISSUER_RATE_LIMIT_PER_MINUTE: LIFTED },
});
try {
  const app = createApp(sb.deps);
  const proof = await sb.gcp.emulator.mintIdToken({ audience: sb.url, format: 'full' });
  const body = new URLSearchParams({ grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token: proof, subject_token_type: TOKEN_TYPE.idToken, resource: SANDBOX.graph }).toString();
  const tokenRequest = () => new Request('http://bench/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  const first = await app.fetch(tokenRequest());
  if (first.status !== 200) throw new Error(`warm-up exchange failed: ${first.status} ${await first.text()}`);
  const entraCallsBefore = sb.entra.calls.length;

  // Distinct proofs for the "new proof each time" case (minting is not part of the measurement).
  const freshProofs: string[] = [];
  for (let i = 0; i < 2000; i++) freshProofs.push(await sb.gcp.emulator.mintIdToken({ audience: sb.url, format: 'full', claims: { nonce: String(i) } }));
  let next = 0;
  const freshRequest = () =>
    new Request('http://bench/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token: freshProofs[next++ % freshProofs.length]!, subject_token_type: TOKEN_TYPE.idToken, resource: SANDBOX.graph }).toString(),
    });

  const jwks = createLocalJWKSet({ keys: [sb.gcp.emulator.signingKey.publicJwk as never] });
  const results = [
    await measure('baseline: GET /healthz (in-process)', () => ok(app.fetch(new Request('http://bench/healthz')))),
    await measure('baseline: jose jwtVerify RS256 of the proof', () => jwtVerify(proof, jwks, { algorithms: ['RS256'] })),
    await measure('hot path: POST /token, new proof each time (in-process)', () => ok(app.fetch(freshRequest())), 1, 400),
    await measure('hot path: POST /token, new proof each time (in-process, 16 concurrent)', () => ok(app.fetch(freshRequest())), 16, 1200),
    await measure('hot path: POST /token, same proof again (in-process)', () => ok(app.fetch(tokenRequest()))),
    await measure('hot path: POST /token, same proof again (in-process, 16 concurrent)', () => ok(app.fetch(tokenRequest())), 16),
    await measure('hot path: POST /token over loopback HTTP (16 concurrent)', () => ok(fetch(`${sb.url}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body })), 16),
  ];
  if (sb.entra.calls.length !== entraCallsBefore) throw new Error('the warm path called Entra');

  const [health, verify] = results;
  console.log(`node ${process.version}, ${MAX_MS} ms per case\n`);
  console.log('case'.padEnd(66), 'ops/s'.padStart(9), 'x healthz'.padStart(10), 'x verify'.padStart(9));
  for (const r of results) {
    console.log(r.name.padEnd(66), r.opsPerSec.toFixed(0).padStart(9), (r.opsPerSec / health!.opsPerSec).toFixed(3).padStart(10), (r.opsPerSec / verify!.opsPerSec).toFixed(3).padStart(9));
  }
  console.log('\nReading it: a new proof costs about one RS256 verification ("x verify" near 1: the rest of the path is cheap);');
  console.log('a re-presented proof skips verification (verified-proof cache). Over HTTP the client shares the two cores.');
} finally {
  await sb.close();
}
