/**
 * Black-box smoke test of the Worker as wrangler runs it (`npm run smoke:workers`): `wrangler dev`
 * on 127.0.0.1 with .dev.vars-style bindings pointing at emulators started here, then one full
 * exchange per platform over real HTTP. The Entra emulator fetches the bridge's discovery and JWKS
 * from wrangler dev itself, as Entra would from the custom domain. The Worker runs exactly as
 * deployed: wrangler.toml, its compatibility date and flags (no nodejs_compat), its Durable Objects.
 * wrangler is stopped by its process group; every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeJwt } from 'jose';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE } from '../../src/constants.ts';
import { signN8nAssertion } from './harness/n8n-assertion.ts';
import { githubActionsIdToken, kubernetesServiceAccountToken } from './harness/oidc-workloads.ts';
import { startWorkerStack, type WorkerStack } from './harness/stack.ts';

const REPO = resolve(import.meta.dirname, '../..');
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

/** KEY='value' lines, as .dev.vars holds them; values here never contain a single quote. */
function devVars(bindings: Record<string, string>): string {
  return Object.entries(bindings)
    .map(([k, v]) => {
      if (v.includes("'") || v.includes('\n'))
        throw new Error(`${k}: cannot be written as a single-quoted .dev.vars value`);
      return `${k}='${v}'`;
    })
    .join('\n');
}

function startWrangler(port: number, envFile: string, persistTo: string, log: string[]): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      join(REPO, 'node_modules/wrangler/bin/wrangler.js'),
      'dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--inspector-ip',
      '127.0.0.1',
      '--env-file',
      envFile,
      '--persist-to',
      persistTo,
      '--show-interactive-dev-session=false',
      '--log-level',
      'warn',
    ],
    {
      cwd: REPO,
      detached: true, // its own process group: stopping it stops esbuild and workerd too
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        WRANGLER_SEND_METRICS: 'false',
        WRANGLER_SEND_ERROR_REPORTS: 'false',
        CLOUDFLARE_CF_FETCH_ENABLED: 'false',
        CI: 'true',
      },
    },
  );
  child.stdout!.on('data', (d: Buffer) => log.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
  return child;
}

async function stopWrangler(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const group = -child.pid;
  try {
    process.kill(group, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(group, 'SIGKILL');
    } catch {
      // already gone
    }
  }, STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited early with code ${child.exitCode}`);
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`wrangler dev did not answer within ${READY_TIMEOUT_MS / 1000} s`);
}

async function exchange(
  bridge: string,
  fields: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${bridge}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: GRANT_TYPE_TOKEN_EXCHANGE, ...fields }).toString(),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

type Check = [name: string, run: () => Promise<void>];

function checks(bridge: string, stack: WorkerStack): Check[] {
  const { agentId, graph, api } = stack.info;
  const expectToken = (
    r: { status: number; body: Record<string, unknown>; headers: Headers },
    claims: Record<string, unknown>,
  ) => {
    if (r.status !== 200) throw new Error(`HTTP ${r.status} ${JSON.stringify(r.body)}`);
    if (r.headers.get('cache-control') !== 'no-store') throw new Error('no Cache-Control: no-store');
    const got = decodeJwt(String(r.body.access_token));
    for (const [k, v] of Object.entries(claims))
      if (JSON.stringify(got[k]) !== JSON.stringify(v))
        throw new Error(`token claim ${k} is ${JSON.stringify(got[k])}, expected ${JSON.stringify(v)}`);
  };
  const n8n = (jti?: string) =>
    signN8nAssertion({ ...stack.info.n8n, audience: `${bridge}/token`, ...(jti ? { jti } : {}) });
  return [
    [
      'discovery names the wrangler dev URL as issuer',
      async () => {
        const d = (await (await fetch(`${bridge}/.well-known/openid-configuration`)).json()) as { issuer: string };
        if (d.issuer !== bridge) throw new Error(`issuer ${d.issuer}`);
      },
    ],
    [
      'gcp: ID token → Graph token',
      async () =>
        expectToken(
          await exchange(bridge, {
            subject_token: await stack.gcp.emulator.mintIdToken({ audience: bridge, format: 'full' }),
            subject_token_type: TOKEN_TYPE.idToken,
            resource: graph,
          }),
          { appid: agentId, aud: graph },
        ),
    ],
    [
      'aws kind 1: signed GetCallerIdentity → API token',
      async () =>
        expectToken(
          await exchange(bridge, {
            subject_token: await stack.awsGetCallerIdentity(),
            subject_token_type: TOKEN_TYPE.aws4Request,
            scope: `${api}/.default`,
          }),
          { azp: agentId, roles: ['Orders.Read'] },
        ),
    ],
    [
      'aws kind 2: GetWebIdentityToken JWT → Graph token',
      async () =>
        expectToken(
          await exchange(bridge, {
            subject_token: await stack.awsWebIdentityToken({ alg: 'ES384' }),
            subject_token_type: TOKEN_TYPE.jwt,
            resource: graph,
          }),
          { appid: agentId },
        ),
    ],
    [
      'n8n: assertion → Graph token; its jti replayed → refused (Durable Object)',
      async () => {
        const assertion = await n8n();
        expectToken(
          await exchange(bridge, { subject_token: assertion, subject_token_type: TOKEN_TYPE.jwt, resource: graph }),
          { appid: agentId },
        );
        const again = await exchange(bridge, {
          subject_token: assertion,
          subject_token_type: TOKEN_TYPE.jwt,
          resource: graph,
        });
        if (again.status !== 400 || again.body.error !== 'invalid_request')
          throw new Error(`replay answered HTTP ${again.status} ${JSON.stringify(again.body)}`);
      },
    ],
    [
      'oidc kubernetes: TokenRequest service account token → Graph token',
      async () =>
        expectToken(
          await exchange(bridge, {
            subject_token: await kubernetesServiceAccountToken(stack.info.kubernetes, bridge),
            subject_token_type: TOKEN_TYPE.jwt,
            resource: graph,
          }),
          { appid: agentId, aud: graph },
        ),
    ],
    [
      'oidc github-actions: Actions ID token → API token',
      async () =>
        expectToken(
          await exchange(bridge, {
            subject_token: await githubActionsIdToken(stack.info.githubActions, bridge),
            subject_token_type: TOKEN_TYPE.idToken,
            scope: `${api}/.default`,
          }),
          { azp: agentId, roles: ['Orders.Read'] },
        ),
    ],
    [
      'the Entra emulator checked the bridge assertions against the published JWKS (leg 1 for every exchange)',
      async () => {
        const leg1 = stack.entra.calls.filter((c) => c.leg === 'leg1');
        if (leg1.length === 0 || leg1.some((c) => c.status !== 200 || c.fmiPath !== agentId))
          throw new Error(JSON.stringify(leg1));
      },
    ],
  ];
}

async function main(): Promise<number> {
  const started = Date.now();
  const port = await freePort();
  const bridge = `http://127.0.0.1:${port}`;
  const scratch = mkdtempSync(join(tmpdir(), 'bridge-smoke-'));
  const log: string[] = [];
  let stack: WorkerStack | undefined;
  let wrangler: ChildProcess | undefined;
  let passed = 0;
  let failed = 0;
  try {
    stack = await startWorkerStack({ issuer: bridge });
    const envFile = join(scratch, '.dev.vars');
    writeFileSync(envFile, devVars(stack.bindings), { mode: 0o600 });
    wrangler = startWrangler(port, envFile, join(scratch, 'state'), log);
    await waitReady(bridge, wrangler);
    console.log(`wrangler dev ready on ${bridge} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    for (const [name, run] of checks(bridge, stack)) {
      const checkStarted = Date.now();
      try {
        await run();
        passed++;
        // The first exchange's time is the isolate's first /token (docs/performance.md#workers).
        console.log(`  ✓ ${name} (${Date.now() - checkStarted} ms)`);
      } catch (e) {
        failed++;
        console.log(`  ✗ ${name}: ${(e as Error).message}`);
      }
    }
  } catch (e) {
    failed++;
    console.log(`  ✗ setup: ${(e as Error).message}`);
  } finally {
    if (wrangler) await stopWrangler(wrangler);
    await stack?.close();
    rmSync(scratch, { recursive: true, force: true });
  }
  const problems = log
    .join('')
    .split('\n')
    .filter((l) => /No such module|ERROR|✘/.test(l));
  if (failed > 0 || problems.length > 0) console.log(`wrangler output:\n${log.join('').slice(-4000)}`);
  if (problems.length > 0 && failed === 0) failed++;
  console.log(`wrangler dev smoke test took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`smoke: ${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
