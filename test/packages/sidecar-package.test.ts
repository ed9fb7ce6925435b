/**
 * @agent-id-bridge/sidecar as an operator gets it (issue 10 items 2 and 4): packed with `npm pack`
 * (with the client packages it depends on, until they are published), installed into a fresh
 * directory with plain `npm install`, and its `agent-id-bridge-sidecar` command run on the system
 * Node with nothing but the platform's environment and AGENT_ID_BRIDGE_URL (the proof is detected).
 * Microsoft's SidecarAuthProvider then finds it through SIDECAR_URL alone: the one-variable way of
 * docs/platforms/aws.md. The packed size and installed dependency count for docs/clients.md are printed.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthType, MsalConnectionManager } from '@microsoft/agents-hosting';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';
import { outsideEnv, REPO } from '../support/outside-env.ts';

const PACKAGES = ['adapters/client', 'adapters/aws/client', 'adapters/gcp/client', 'adapters/sidecar'];
const INSTALL_TIMEOUT_MS = 240_000;
const START_TIMEOUT_MS = 30_000;

function run(file: string, args: string[], opts: { cwd: string; env: Record<string, string> }): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { ...opts, timeout: INSTALL_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${file} ${args.join(' ')} failed in ${opts.cwd}: ${error.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

let sb: Sandbox;
let work: string;
let child: ChildProcess | undefined;
let sidecarUrl: string;
const stderrLines: string[] = [];
let packed: { size: number; unpackedSize: number; files: string[] };
let installedDeps: string[] = [];
let systemNode = '';

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'agent-id-bridge-sidecar-package-'));
  const tarballs: string[] = [];
  for (const dir of PACKAGES) {
    const out = await run('npm', ['pack', '--json', '--pack-destination', work], {
      cwd: join(REPO, dir),
      env: { ...process.env, npm_config_loglevel: 'error' } as Record<string, string>,
    });
    const [info] = JSON.parse(out.slice(out.indexOf('['))) as {
      filename: string;
      size: number;
      unpackedSize: number;
      files: { path: string }[];
    }[];
    tarballs.push(join(work, info!.filename));
    if (dir === 'adapters/sidecar')
      packed = { size: info!.size, unpackedSize: info!.unpackedSize, files: info!.files.map((f) => f.path) };
  }
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'sidecar-host', private: true })}\n`);
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs], {
    cwd: app,
    env: outsideEnv(),
  });
  const nodeModules = join(app, 'node_modules');
  for (const entry of readdirSync(nodeModules, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    if (entry.name.startsWith('@'))
      for (const scoped of readdirSync(join(nodeModules, entry.name))) installedDeps.push(`${entry.name}/${scoped}`);
    else installedDeps.push(entry.name);
  }
  installedDeps = installedDeps.filter((p) => !p.startsWith('@agent-id-bridge/'));
  systemNode = (await run('/usr/bin/env', ['node', '--version'], { cwd: app, env: outsideEnv() })).trim();

  sb = await startSandbox({ port: 0, audit: () => {} });
  const m = sb.manifest as {
    aws: { accessKeyId: string; secretAccessKey: string; sessionToken?: string; region: string; stsEndpoint: string };
  };
  // What Lambda or ECS gives a process (credentials and region in the environment), plus the one variable.
  child = spawn(join(app, 'node_modules/.bin/agent-id-bridge-sidecar'), ['--listen', '127.0.0.1:0'], {
    cwd: app,
    env: {
      ...outsideEnv(),
      AWS_ACCESS_KEY_ID: m.aws.accessKeyId,
      AWS_SECRET_ACCESS_KEY: m.aws.secretAccessKey,
      ...(m.aws.sessionToken ? { AWS_SESSION_TOKEN: m.aws.sessionToken } : {}),
      AWS_REGION: m.aws.region,
      AWS_ENDPOINT_URL_STS: m.aws.stsEndpoint,
      AWS_CONFIG_FILE: join(work, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(work, 'no-aws-credentials'),
      AGENT_ID_BRIDGE_URL: sb.url,
      AGENT_ID_BRIDGE_SCOPES_DEFAULT: `${SANDBOX.graph}/.default`,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  sidecarUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the sidecar did not start:\n${stderrLines.join('\n')}`)),
      START_TIMEOUT_MS,
    );
    let buffer = '';
    child!.stderr!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        stderrLines.push(line);
        try {
          const parsed = JSON.parse(line) as { msg?: string; url?: string };
          if (parsed.msg === 'listening' && parsed.url) {
            clearTimeout(timer);
            resolve(parsed.url);
          }
        } catch {
          // not a JSON line: kept for the failure message
        }
      }
    });
    child!.once('exit', (code) => reject(new Error(`the sidecar exited (${code}):\n${stderrLines.join('\n')}`)));
  });
}, INSTALL_TIMEOUT_MS * 2);

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  await sb?.close();
  if (work) rmSync(work, { recursive: true, force: true });
  delete process.env.SIDECAR_URL;
  console.log(
    `sidecar package (system node ${systemNode}): @agent-id-bridge/sidecar packed ${packed?.size} B (unpacked ${packed?.unpackedSize} B), ${installedDeps.length} installed dependencies`,
  );
});

describe('@agent-id-bridge/sidecar: npm pack, npm install, the command on the system Node', () => {
  it('issue 10 item 2: the tarball holds the command and the ESM and CommonJS builds, and no TypeScript source', () => {
    expect(packed.files).toEqual(
      expect.arrayContaining([
        'bin/agent-id-bridge-sidecar.js',
        'dist/esm/index.js',
        'dist/cjs/index.js',
        'dist/esm/index.d.ts',
        'package.json',
      ]),
    );
    expect(packed.files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('issue 10 item 2: no server dependency is installed with the sidecar', () => {
    for (const server of ['hono', '@hono/node-server', '@azure/msal-node', 'zod', 'jose', 'ioredis', 'pino', 'yaml'])
      expect(installedDeps).not.toContain(server);
  });

  it('issue 10 item 2: started with only AGENT_ID_BRIDGE_URL, it detects AWS and says so, and /healthz is 200', async () => {
    const listening = stderrLines
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, string>)
      .find((l) => l.msg === 'listening')!;
    expect(listening).toMatchObject({ proof: 'aws-sigv4', callers: 'loopback' });
    expect(listening.proof_chosen_by).toMatch(/^detected: .*AWS_ACCESS_KEY_ID/);
    expect(systemNode).toMatch(/^v\d+/);
    expect((await fetch(`${sidecarUrl}/healthz`)).status).toBe(200);
  });

  it('issue 10 item 4: Microsoft’s SidecarAuthProvider, pointed at it by SIDECAR_URL alone, gets the agent’s token', async () => {
    process.env.SIDECAR_URL = sidecarUrl;
    const provider = new MsalConnectionManager(
      new Map([
        [
          'serviceConnection',
          { authType: AuthType.EntraAuthSideCar, scopes: [`${SANDBOX.graph}/.default`], retryCount: 0 },
        ],
      ]),
    ).getDefaultConnection();
    const token = await provider.getAgenticInstanceToken(SANDBOX.tenantId, SANDBOX.agentId);
    expect(decodeJwt(token)).toMatchObject({
      aud: SANDBOX.graph,
      appid: SANDBOX.agentId,
      idtyp: 'app',
      tid: SANDBOX.tenantId,
    });
    expect(stderrLines.join('\n')).not.toContain(token.split('.')[2]);
  });
});
