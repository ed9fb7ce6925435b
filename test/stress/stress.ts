/**
 * `npm run stress`: floods of proofs, spellings and slow clients (docs/architecture.md#threat-model)
 * against a local sandbox, each bounded in count
 * and time, on loopback only. The bridge runs in its own process (./bridge-process.ts) so that its
 * memory and event-loop delay are measured apart from this client. For each attack it prints the
 * answers by status, the bridge's refusal reasons, STS calls, RSS before and after, the worst
 * event-loop delay, and whether a legitimate client kept being served meanwhile.
 *
 * Attackers send from their own loopback source addresses (127.0.<n>.1-16 per attack: a small
 * botnet of 16 addresses); the legitimate client sends from 127.0.0.2. It presents (a) the proof
 * it already holds, as real clients do for the proof's lifetime, and (b) a freshly minted proof.
 * It reports whatever the code does today: a defense that is missing shows as such.
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { importJWK, SignJWT } from 'jose';
import { signGetCallerIdentityProof } from '../../adapters/aws/client.ts';
import { DEFAULT_MAX_CONNECTIONS, GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE } from '../../src/constants.ts';
import { DEFAULT_CREDENTIALS } from '../emulators/sts/index.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';
import type { BridgeStats, StressRequest } from './bridge-process.ts';

/** Attack sizes; each attack also stops at ATTACK_MAX_MS. Scaled so the whole run takes about two minutes. */
const SIZES = {
  awsPadding: 10_000,
  gcpWhitespace: 10_000,
  awsDistinct: 1_600,
  /** The review sent 100 000; 60 000 keeps the run near two minutes and is still over 50 000 new principals a minute. */
  n8nPrincipals: 60_000,
  /** Slow bodies: the connection cap and then some. */
  slowBodies: DEFAULT_MAX_CONNECTIONS + 88,
};
const ATTACK_MAX_MS = 45_000;
const CONCURRENCY = 64;
const SOURCES_PER_ATTACK = 16;
const LEGIT_ADDRESS = '127.0.0.2';
const SLOW_HOLD_MAX_MS = 20_000;

// ---------------------------------------------------------------- the bridge process
const child = fork(new URL('./bridge-process.ts', import.meta.url), [], {
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const pending = new Map<number, (v: unknown) => void>();
child.on('message', (m) => {
  const { id, value } = m as { id: number; value: unknown };
  pending.get(id)?.(value);
  pending.delete(id);
});
const ready = new Promise<{ url: string; manifest: Record<string, Record<string, unknown>> }>((resolve) =>
  pending.set(0, resolve as (v: unknown) => void),
);
let nextId = 1;
function rpc<T>(type: StressRequest['type'], extra: Record<string, unknown> = {}): Promise<T> {
  const id = nextId++;
  return new Promise<T>((resolve) => {
    pending.set(id, resolve as (v: unknown) => void);
    child.send({ id, type, ...extra });
  });
}

const { url, manifest } = await ready;
const bridge = new URL(url);

// ---------------------------------------------------------------- HTTP from chosen source addresses
const agents = new Map<string, http.Agent>();
const agentFor = (localAddress: string) => {
  let a = agents.get(localAddress);
  if (!a)
    agents.set(
      localAddress,
      (a = new http.Agent({ keepAlive: true, maxSockets: 8, localAddress } as http.AgentOptions)),
    );
  return a;
};

interface Answer {
  status: number;
  body: string;
  ms: number;
}

/** One request; `fresh` opens a new connection for it (is the server still accepting?). */
function send(
  method: 'GET' | 'POST',
  path: string,
  body: string | undefined,
  localAddress: string,
  fresh = false,
): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve) => {
    const headers: Record<string, string | number> =
      body === undefined
        ? {}
        : { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) };
    const req = http.request(
      {
        host: bridge.hostname,
        port: bridge.port,
        path,
        method,
        headers,
        ...(fresh ? { agent: false, localAddress } : { agent: agentFor(localAddress) }),
        timeout: 30_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, ms: performance.now() - started }));
        res.on('error', () => resolve({ status: 0, body: '', ms: performance.now() - started }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '', ms: performance.now() - started }));
    req.end(body);
  });
}

const form = (fields: Record<string, string>) =>
  new URLSearchParams({ grant_type: GRANT_TYPE_TOKEN_EXCHANGE, ...fields }).toString();
const sourcesOf = (attack: number) => Array.from({ length: SOURCES_PER_ATTACK }, (_, i) => `127.0.${attack}.${i + 1}`);

/** Send bodies[0..n) with CONCURRENCY in flight, spread over `sources`; stops at ATTACK_MAX_MS. */
async function flood(
  bodies: readonly string[],
  sources: readonly string[],
): Promise<{ sent: number; ms: number; statuses: Record<string, number> }> {
  const statuses: Record<string, number> = {};
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < bodies.length && performance.now() - started < ATTACK_MAX_MS) {
        const i = next++;
        const a = await send('POST', '/token', bodies[i], sources[i % sources.length]!);
        statuses[a.status] = (statuses[a.status] ?? 0) + 1;
      }
    }),
  );
  return { sent: next, ms: performance.now() - started, statuses };
}

// ---------------------------------------------------------------- the legitimate client
const legitProof = await rpc<string>('mint-gcp', { nonce: 'legit' });
const legitBody = form({ subject_token: legitProof, subject_token_type: TOKEN_TYPE.idToken, resource: SANDBOX.graph });

interface ProbeResult {
  held: { ok: number; total: number };
  fresh: { ok: number; total: number; refusals: Record<string, number> };
  healthz: { ok: number; total: number };
  worstMs: number;
}

/**
 * Runs until `stop()`: the held proof every 250 ms (over a kept-alive connection), a fresh proof
 * every second, and /healthz every 250 ms over a new connection each time.
 */
function legitimateClient(): { stop: () => Promise<ProbeResult> } {
  const r: ProbeResult = {
    held: { ok: 0, total: 0 },
    fresh: { ok: 0, total: 0, refusals: {} },
    healthz: { ok: 0, total: 0 },
    worstMs: 0,
  };
  let running = true;
  let tick = 0;
  const loop = (async () => {
    while (running) {
      const jobs: Promise<void>[] = [
        send('POST', '/token', legitBody, LEGIT_ADDRESS).then((a) => {
          r.held.total++;
          if (a.status === 200) r.held.ok++;
          r.worstMs = Math.max(r.worstMs, a.ms);
        }),
        send('GET', '/healthz', undefined, LEGIT_ADDRESS, true).then((a) => {
          r.healthz.total++;
          if (a.status === 200) r.healthz.ok++;
        }),
      ];
      if (tick++ % 4 === 0) {
        jobs.push(
          rpc<string>('mint-gcp', { nonce: `fresh-${tick}` }).then(async (proof) => {
            const a = await send(
              'POST',
              '/token',
              form({ subject_token: proof, subject_token_type: TOKEN_TYPE.idToken, resource: SANDBOX.graph }),
              LEGIT_ADDRESS,
            );
            r.fresh.total++;
            if (a.status === 200) r.fresh.ok++;
            else {
              const key = `${a.status}`;
              r.fresh.refusals[key] = (r.fresh.refusals[key] ?? 0) + 1;
            }
          }),
        );
      }
      await Promise.all([...jobs, new Promise((res) => setTimeout(res, 250))]);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return r;
    },
  };
}

// ---------------------------------------------------------------- measuring one attack
interface Report {
  name: string;
  note: string;
  sent: number;
  ms: number;
  statuses: Record<string, number>;
  before: BridgeStats;
  after: BridgeStats;
  probe: ProbeResult;
  extra?: string;
}
const reports: Report[] = [];

async function attack(
  name: string,
  note: string,
  run: () => Promise<{ sent: number; ms: number; statuses: Record<string, number>; extra?: string }>,
): Promise<void> {
  const before = await rpc<BridgeStats>('reset');
  const probe = legitimateClient();
  const result = await run();
  const probeResult = await probe.stop();
  const after = await rpc<BridgeStats>('stats');
  const report: Report = { name, note, ...result, before, after, probe: probeResult };
  reports.push(report);
  print(report);
}

const mib = (n: number) => `${n.toFixed(0)} MiB`;
const pct = (p: { ok: number; total: number }) => `${p.ok}/${p.total}`;
const top = (counts: Record<string, number>) =>
  Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

function print(r: Report): void {
  console.log(`\n## ${r.name}\n   ${r.note}`);
  console.log(`   sent ${r.sent} in ${(r.ms / 1000).toFixed(1)} s; answers: ${top(r.statuses)}`);
  console.log(`   bridge reasons: ${top(r.after.reasons)}`);
  console.log(`   STS GetCallerIdentity calls: ${r.after.stsCalls - r.before.stsCalls}`);
  console.log(
    `   RSS ${mib(r.before.rssMiB)} -> ${mib(r.after.rssMiB)}, heap ${mib(r.before.heapMiB)} -> ${mib(r.after.heapMiB)}; worst event-loop delay ${r.after.worstEventLoopDelayMs.toFixed(0)} ms`,
  );
  console.log(
    `   legitimate client: held proof ${pct(r.probe.held)} ok, fresh proof ${pct(r.probe.fresh)} ok${Object.keys(r.probe.fresh.refusals).length ? ` (refused: ${top(r.probe.fresh.refusals)})` : ''}, /healthz ${pct(r.probe.healthz)} ok, slowest ${r.probe.worstMs.toFixed(0)} ms`,
  );
  if (r.extra) console.log(`   ${r.extra}`);
}

// ---------------------------------------------------------------- the attacks
const aws = manifest.aws!;
const n8n = manifest.n8n!;
const started = performance.now();
console.log(
  `agent-id-bridge stress: sandbox ${url}, node ${process.version}; ${CONCURRENCY} requests in flight, ${SOURCES_PER_ATTACK} attacker addresses per attack`,
);

await attack(
  'AWS proof with unsigned padding headers',
  `one signed GetCallerIdentity from a principal no rule names, re-sent ${SIZES.awsPadding} times with a different unsigned header each time`,
  async () => {
    const base = JSON.parse(
      decodeURIComponent(
        await signGetCallerIdentityProof({
          credentials: DEFAULT_CREDENTIALS.otherAccount,
          audience: url,
          region: String(aws.region),
        }),
      ),
    ) as {
      headers: { key: string; value: string }[];
    };
    const bodies = Array.from({ length: SIZES.awsPadding }, (_, i) =>
      form({
        subject_token: encodeURIComponent(
          JSON.stringify({
            ...base,
            headers: [...base.headers, { key: 'X-Padding', value: `${i}-${'p'.repeat(512)}` }],
          }),
        ),
        subject_token_type: TOKEN_TYPE.aws4Request,
        resource: SANDBOX.graph,
      }),
    );
    return flood(bodies, sourcesOf(1));
  },
);

await attack(
  'GCP ID token with whitespace in its signature',
  `one valid ID token of a service account no rule names, re-sent ${SIZES.gcpWhitespace} times with a space at a different place in the signature segment`,
  async () => {
    // A workload of the attacker's own (a service account no rule names), not the legitimate client's.
    const token = await rpc<string>('mint-gcp', { nonce: 'whitespace', sub: '999999999999999999999' });
    const [h, p, s] = token.split('.') as [string, string, string];
    const variants: string[] = [];
    for (let a = 1; a < s.length && variants.length < SIZES.gcpWhitespace; a++) {
      for (let b = a; b < s.length && variants.length < SIZES.gcpWhitespace; b++)
        variants.push(`${h}.${p}.${s.slice(0, a)} ${s.slice(a, b)}${a === b ? '' : ' '}${s.slice(b)}`);
    }
    return flood(
      variants.map((t) => form({ subject_token: t, subject_token_type: TOKEN_TYPE.idToken, resource: SANDBOX.graph })),
      sourcesOf(2),
    );
  },
);

await attack(
  'distinct AWS proofs from principals with no rule',
  `${SIZES.awsDistinct} distinct signed GetCallerIdentity requests (three credentials no rule names, signed at different seconds)`,
  async () => {
    const creds = [DEFAULT_CREDENTIALS.otherAccount, DEFAULT_CREDENTIALS.user, DEFAULT_CREDENTIALS.pathRole];
    const now = Date.now();
    const proofs = await Promise.all(
      Array.from({ length: SIZES.awsDistinct }, (_, i) =>
        signGetCallerIdentityProof({
          credentials: creds[i % creds.length]!,
          audience: url,
          region: String(aws.region),
          signingDate: new Date(now - Math.floor(i / creds.length) * 1000),
        }),
      ),
    );
    return flood(
      proofs.map((t) =>
        form({ subject_token: t, subject_token_type: TOKEN_TYPE.aws4Request, resource: SANDBOX.graph }),
      ),
      sourcesOf(3),
    );
  },
);

await attack(
  'n8n assertions for arbitrary workflow ids (new principals)',
  `${SIZES.n8nPrincipals} validly signed assertions of the sandbox instance, each for a new workflow id (scaled down from the review's 100 000; still over 50 000 new principals per minute if all were admitted)`,
  async () => {
    const key = await importJWK(n8n.privateJwk as Record<string, string>, 'ES256');
    const iat = Math.floor(Date.now() / 1000);
    const sign = (workflowId: string, jti: string) =>
      new SignJWT({ sub: `n8n:${n8n.instanceId}:workflow:${workflowId}`, jti })
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: String(n8n.kid) })
        .setIssuer(`n8n:${n8n.instanceId}`)
        .setAudience(`${url}/token`)
        .setIssuedAt(iat)
        .setExpirationTime(iat + 240)
        .sign(key);
    const bodies: string[] = [];
    for (let i = 0; i < SIZES.n8nPrincipals; i += 500) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(500, SIZES.n8nPrincipals - i) }, (_, j) =>
          sign(`wf${(i + j).toString(36).padStart(6, '0')}`, `stress-${i + j}`),
        ),
      );
      for (const t of batch)
        bodies.push(form({ subject_token: t, subject_token_type: TOKEN_TYPE.jwt, resource: SANDBOX.graph }));
    }
    const result = await flood(bodies, sourcesOf(4));
    const legit = await send(
      'POST',
      '/token',
      form({
        subject_token: await sign(String(n8n.workflowId), `legit-${Date.now()}`),
        subject_token_type: TOKEN_TYPE.jwt,
        resource: SANDBOX.graph,
      }),
      LEGIT_ADDRESS,
    );
    const perMinute = Math.round(result.sent / (result.ms / 60_000));
    return {
      ...result,
      extra: `offered ${perMinute} new principals per minute; afterwards the sandbox workflow's fresh assertion was answered ${legit.status}${legit.status === 200 ? '' : ` (${(JSON.parse(legit.body || '{}') as { error?: string }).error ?? ''})`}`,
    };
  },
);

await attack(
  'slowly sent request bodies',
  `${SIZES.slowBodies} connections (connection cap ${DEFAULT_MAX_CONNECTIONS}) each sending headers and 10 of 1000 body bytes, then nothing`,
  async () => {
    const sources = sourcesOf(5);
    const t0 = performance.now();
    const sockets = await Promise.all(
      Array.from(
        { length: SIZES.slowBodies },
        (_, i) =>
          new Promise<{ closedAt?: number; text: string; socket: net.Socket }>((resolve) => {
            const state: { closedAt?: number; text: string; socket: net.Socket } = {
              text: '',
              socket: net.connect({
                host: bridge.hostname,
                port: Number(bridge.port),
                localAddress: sources[i % sources.length]!,
              }),
            };
            state.socket.setEncoding('latin1');
            state.socket.on('data', (d: string) => (state.text += d));
            state.socket.on('error', () => {});
            state.socket.on('close', () => (state.closedAt = performance.now() - t0));
            state.socket.on('connect', () => {
              state.socket.write(
                'POST /token HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ngrant_type',
              );
              resolve(state);
            });
            state.socket.on('close', () => resolve(state));
          }),
      ),
    );
    for (let waited = 0; waited < SLOW_HOLD_MAX_MS && sockets.some((s) => s.closedAt === undefined); waited += 250)
      await new Promise((r) => setTimeout(r, 250));
    const refusedAtOnce = sockets.filter((s) => s.closedAt !== undefined && s.closedAt < 1000 && s.text === '').length;
    const answered408 = sockets.filter((s) => s.text.startsWith('HTTP/1.1 408')).length;
    const lastClose = Math.max(...sockets.map((s) => s.closedAt ?? Number.POSITIVE_INFINITY));
    for (const s of sockets) s.socket.destroy();
    return {
      sent: sockets.length,
      ms: performance.now() - t0,
      statuses: {
        '408': answered408,
        'closed unanswered within 1 s (over the cap)': refusedAtOnce,
        'still open at the end': sockets.filter((s) => s.closedAt === undefined).length,
      },
      extra: `the last stalled connection was closed after ${Number.isFinite(lastClose) ? `${(lastClose / 1000).toFixed(1)} s` : `more than ${SLOW_HOLD_MAX_MS / 1000} s`}`,
    };
  },
);

console.log(`\nstress finished in ${((performance.now() - started) / 1000).toFixed(0)} s`);
for (const a of agents.values()) a.destroy();
await rpc('close');
