/**
 * The client packages as an agent developer gets them (issue 10, "Must show"): each package is
 * packed with `npm pack` (its prepack builds it), installed from the tarball into a fresh directory
 * outside the repository with plain `npm install` (no workspace, no TypeScript), and used from
 * plain JavaScript, as ESM and as CommonJS, on the system Node and on the project's Node, against
 * the sandbox: AWS kind 1 and kind 2, GCP, and the core with a proof of its own. Then the Bedrock
 * example is bundled with esbuild as ESM and as CommonJS, the way docs/clients.md tells Lambda
 * users to, and each bundle answers an action-group event with a Graph lookup made with the agent
 * token. The packed sizes and installed dependency counts are printed for docs/clients.md.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';
import { outsideEnv, REPO } from '../support/outside-env.ts';

const PACKAGES = { client: 'adapters/client', aws: 'adapters/aws/client', gcp: 'adapters/gcp/client' } as const;
type PackageName = keyof typeof PACKAGES;
/** What each consumer directory installs: the platform packages need the core beside them until it is published. */
const INSTALLS: Record<PackageName, PackageName[]> = {
  client: ['client'],
  aws: ['client', 'aws'],
  gcp: ['client', 'gcp'],
};
const FORMATS = ['esm', 'cjs'] as const;
type Format = (typeof FORMATS)[number];
/** Generous: the first install of the AWS SDK into an empty npm cache downloads it. */
const INSTALL_TIMEOUT_MS = 240_000;
const RUN_TIMEOUT_MS = 60_000;

function run(
  file: string,
  args: string[],
  opts: { cwd: string; env: Record<string, string>; timeout: number },
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { ...opts, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')} failed in ${opts.cwd}: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

interface Runtime {
  label: 'system' | 'project';
  version: string;
  run(args: string[], cwd: string, env: Record<string, string>): Promise<string>;
}

const systemNode: Runtime = {
  label: 'system',
  version: '',
  run: (args, cwd, env) =>
    run('/usr/bin/env', ['node', ...args], { cwd, env: { ...outsideEnv(), ...env }, timeout: RUN_TIMEOUT_MS }),
};
const projectNode: Runtime = {
  label: 'project',
  version: process.version,
  run: (args, cwd, env) =>
    run(process.execPath, args, { cwd, env: { ...outsideEnv(), ...env }, timeout: RUN_TIMEOUT_MS }),
};
const RUNTIMES = [systemNode, projectNode];

/**
 * A consumer program as plain JavaScript: `body` runs with `bindings` in scope, imported (ESM)
 * or required (CommonJS) from `pkg`, and prints `result` as JSON.
 */
function program(format: Format, pkg: string, bindings: string[], body: string): string {
  const imports =
    format === 'esm'
      ? `import { ${bindings.join(', ')} } from '${pkg}';`
      : `const { ${bindings.join(', ')} } = require('${pkg}');`;
  return `${imports}
const env = process.env;
async function main() {
${body}
}
main().then((result) => console.log(JSON.stringify({ node: process.version, result })), (e) => { console.error(e); process.exit(1); });
`;
}

const FILE_EXT: Record<Format, string> = { esm: 'mjs', cjs: 'cjs' };

/** The refusal each consumer provokes: a proof bound to another audience. */
const REFUSAL = `(e) => ({ name: e.name, isBridgeError: e instanceof BridgeExchangeError, status: e.status, error: e.error, requestId: e.requestId })`;

const CONSUMERS: Record<PackageName, (format: Format) => string> = {
  // The core alone, with a proof of its own: a GCP ID token straight from the metadata server.
  client: (format) =>
    program(
      format,
      '@agent-id-bridge/client',
      ['createAgentTokenSource', 'BridgeExchangeError', 'TOKEN_TYPE'],
      `  const idToken = (audience) => async () => {
    const res = await fetch(\`http://\${env.GCE_METADATA_HOST}/computeMetadata/v1/instance/service-accounts/default/identity?audience=\${encodeURIComponent(audience)}&format=full\`, { headers: { 'Metadata-Flavor': 'Google' } });
    if (!res.ok) throw new Error(\`metadata server answered \${res.status}\`);
    return { token: await res.text(), tokenType: TOKEN_TYPE.idToken };
  };
  const source = createAgentTokenSource({ bridgeUrl: env.BRIDGE_URL, resource: env.RESOURCE, proof: idToken(env.BRIDGE_AUDIENCE) });
  const token = await source.getToken();
  const again = await source.getToken();
  const refused = await createAgentTokenSource({ bridgeUrl: env.BRIDGE_URL, resource: env.RESOURCE, proof: idToken('https://other-bridge.example') }).getToken().catch(${REFUSAL});
  return { tokens: { 'id-token': token }, cached: again.accessToken === token.accessToken, refused };`,
    ),
  aws: (format) =>
    program(
      format,
      '@agent-id-bridge/aws',
      ['createAwsAgentTokenSource', 'BridgeExchangeError'],
      `  const tokens = {};
  for (const proof of ['get-caller-identity', 'web-identity-token']) {
    tokens[proof] = await createAwsAgentTokenSource({ bridgeUrl: env.BRIDGE_URL, audience: env.BRIDGE_AUDIENCE, proof, resource: env.RESOURCE }).getToken();
  }
  const refused = await createAwsAgentTokenSource({ bridgeUrl: env.BRIDGE_URL, audience: 'https://other-bridge.example', resource: env.RESOURCE }).getToken().catch(${REFUSAL});
  return { tokens, refused };`,
    ),
  gcp: (format) =>
    program(
      format,
      '@agent-id-bridge/gcp',
      ['createGcpAgentTokenSource', 'BridgeExchangeError'],
      `  const token = await createGcpAgentTokenSource({ bridgeUrl: env.BRIDGE_URL, audience: env.BRIDGE_AUDIENCE, resource: env.RESOURCE }).getToken();
  const refused = await createGcpAgentTokenSource({ bridgeUrl: env.BRIDGE_URL, audience: 'https://other-bridge.example', resource: env.RESOURCE }).getToken().catch(${REFUSAL});
  return { tokens: { 'id-token': token }, refused };`,
    ),
};

/**
 * Runs a bundled Bedrock action-group Lambda as Lambda would (import or require, then `handler(event)`),
 * with Graph stood in for by a fetch that records the bearer token's claims.
 */
function bedrockRunner(format: Format): string {
  const head =
    format === 'esm'
      ? "import { pathToFileURL } from 'node:url';\nconst load = (file) => import(pathToFileURL(file).href);"
      : 'const load = async (file) => require(file);';
  return `${head}
const graphCalls = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  if (url.hostname !== 'graph.microsoft.com') return realFetch(input, init);
  const bearer = (new Headers(init && init.headers).get('authorization') || '').replace(/^Bearer /, '');
  const claims = JSON.parse(Buffer.from(bearer.split('.')[1], 'base64url').toString());
  graphCalls.push({ path: url.pathname, appid: claims.appid, aud: claims.aud });
  return Response.json({ displayName: 'Alice', jobTitle: 'Engineer', department: 'Agents', mail: 'alice@sandbox.example' });
};
(async () => {
  const { handler } = await load(process.argv[2]);
  const event = { messageVersion: '1.0', actionGroup: 'directory', function: 'getUserProfile', parameters: [{ name: 'userPrincipalName', type: 'string', value: 'alice@sandbox.example' }] };
  const result = await handler(event);
  console.log(JSON.stringify({ node: process.version, result, graphCalls }));
})().catch((e) => { console.error(e); process.exit(1); });
`;
}

interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  files: string[];
}

let sb: Sandbox;
let work: string;
const packed = new Map<PackageName, Packed>();
const installedDeps = new Map<PackageName, string[]>();
let childEnv: Record<string, string>;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'agent-id-bridge-packages-'));
  const tarballs = join(work, 'tarballs');
  mkdirSync(tarballs);
  for (const [name, dir] of Object.entries(PACKAGES) as [PackageName, string][]) {
    // prepack builds dist/ with the repository's tools; the repository's PATH is kept for that.
    const out = await run('npm', ['pack', '--json', '--pack-destination', tarballs], {
      cwd: join(REPO, dir),
      env: { ...process.env, npm_config_loglevel: 'error' } as Record<string, string>,
      timeout: INSTALL_TIMEOUT_MS,
    });
    const [info] = JSON.parse(out.slice(out.indexOf('['))) as {
      filename: string;
      size: number;
      unpackedSize: number;
      files: { path: string }[];
    }[];
    packed.set(name, {
      filename: join(tarballs, info!.filename),
      size: info!.size,
      unpackedSize: info!.unpackedSize,
      files: info!.files.map((f) => f.path),
    });
  }
  // Fresh directories outside the repository, plain `npm install` of the tarballs, from the npm cache when it has them.
  await Promise.all(
    (Object.keys(PACKAGES) as PackageName[]).map(async (name) => {
      const dir = join(work, name);
      mkdirSync(dir);
      writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: `consumer-${name}`, private: true })}\n`);
      const specs = INSTALLS[name].map((p) => packed.get(p)!.filename);
      await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...specs], {
        cwd: dir,
        env: outsideEnv(),
        timeout: INSTALL_TIMEOUT_MS,
      });
      installedDeps.set(
        name,
        installedPackages(join(dir, 'node_modules')).filter(
          (p) => !INSTALLS[name].some((own) => p === `@agent-id-bridge/${own}`),
        ),
      );
      for (const format of FORMATS) writeFileSync(join(dir, `use.${FILE_EXT[format]}`), CONSUMERS[name](format));
    }),
  );
  systemNode.version = (
    await run('/usr/bin/env', ['node', '--version'], { cwd: work, env: outsideEnv(), timeout: RUN_TIMEOUT_MS })
  ).trim();

  sb = await startSandbox({ port: 0, audit: () => {} });
  const manifest = (await (await fetch(`${sb.url}/_sandbox`)).json()) as {
    audience: string;
    aws: { accessKeyId: string; secretAccessKey: string; sessionToken?: string; region: string; stsEndpoint: string };
    gcp: { metadataHost: string; serviceAccount: { projectId: string } };
  };
  childEnv = {
    BRIDGE_URL: sb.url,
    BRIDGE_AUDIENCE: manifest.audience,
    RESOURCE: SANDBOX.graph,
    // The AWS SDK's default chains: credentials and region from the environment, STS at the emulator.
    AWS_ACCESS_KEY_ID: manifest.aws.accessKeyId,
    AWS_SECRET_ACCESS_KEY: manifest.aws.secretAccessKey,
    ...(manifest.aws.sessionToken ? { AWS_SESSION_TOKEN: manifest.aws.sessionToken } : {}),
    AWS_REGION: manifest.aws.region,
    AWS_ENDPOINT_URL_STS: manifest.aws.stsEndpoint,
    AWS_CONFIG_FILE: join(work, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(work, 'no-aws-credentials'),
    // google-auth-library's metadata server, and the project so that it does not ask a local gcloud.
    GCE_METADATA_HOST: manifest.gcp.metadataHost,
    GOOGLE_CLOUD_PROJECT: manifest.gcp.serviceAccount.projectId,
  };
}, INSTALL_TIMEOUT_MS * 2);

afterAll(async () => {
  await sb?.close();
  if (work) rmSync(work, { recursive: true, force: true });
  const rows = (Object.keys(PACKAGES) as PackageName[]).map(
    (name) =>
      `  @agent-id-bridge/${name}: packed ${packed.get(name)?.size} B (unpacked ${packed.get(name)?.unpackedSize} B), ${installedDeps.get(name)?.length} installed dependencies`,
  );
  console.log(
    `client packages (system node ${systemNode.version}, project node ${projectNode.version}):\n${rows.join('\n')}`,
  );
});

/** Every package directory under node_modules (scoped ones included). */
function installedPackages(nodeModules: string): string[] {
  const names: string[] = [];
  for (const entry of readdirSync(nodeModules, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    if (entry.name.startsWith('@'))
      for (const scoped of readdirSync(join(nodeModules, entry.name))) names.push(`${entry.name}/${scoped}`);
    else names.push(entry.name);
  }
  return names;
}

interface TokenOut {
  accessToken: string;
  agentId: string;
  expiresAt: number;
}

function expectAgentToken(t: TokenOut) {
  expect(t.agentId).toBe(SANDBOX.agentId);
  expect(t.expiresAt).toBeGreaterThan(Date.now() / 1000);
  expect(decodeJwt(t.accessToken)).toMatchObject({
    aud: SANDBOX.graph,
    appid: SANDBOX.agentId,
    idtyp: 'app',
    tid: SANDBOX.tenantId,
    xms_par_app_azp: SANDBOX.blueprintId,
  });
}

describe('client packages: npm pack, npm install, plain JavaScript, the sandbox', () => {
  it('issue 10 item 1: each tarball holds the ESM and CommonJS builds with declarations, and no TypeScript source', () => {
    for (const name of Object.keys(PACKAGES) as PackageName[]) {
      const files = packed.get(name)!.files;
      for (const format of FORMATS)
        expect(files).toEqual(
          expect.arrayContaining([
            `dist/${format}/index.js`,
            `dist/${format}/index.d.ts`,
            `dist/${format}/package.json`,
          ]),
        );
      expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
      const manifest = JSON.parse(readFileSync(join(REPO, PACKAGES[name], 'package.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      expect(manifest).toMatchObject({
        name: `@agent-id-bridge/${name}`,
        license: 'MIT',
        repository: { directory: PACKAGES[name] },
        files: ['dist'],
      });
    }
  });

  it('issue 10 item 1: no server dependency is installed with any client package', () => {
    for (const name of Object.keys(PACKAGES) as PackageName[]) {
      const deps = installedDeps.get(name)!;
      for (const server of ['hono', '@hono/node-server', '@azure/msal-node', 'zod', 'jose', 'ioredis', 'pino', 'yaml'])
        expect(deps).not.toContain(server);
    }
    expect(installedDeps.get('client')).toEqual([]);
  });

  it('issue 10 item 1: the declarations type-check ESM and CommonJS TypeScript consumers, and are not any', async () => {
    const consumer = (
      name: 'aws' | 'gcp',
    ) => `import { BridgeExchangeError, type AgentToken } from '@agent-id-bridge/${name}';
import { createAgentTokenSource, type Proof } from '@agent-id-bridge/client';
${
  name === 'aws'
    ? `import { createAwsAgentTokenSource } from '@agent-id-bridge/aws';
const source = createAwsAgentTokenSource({ bridgeUrl: 'https://bridge.example', audience: 'https://bridge.example', proof: 'web-identity-token' });
// @ts-expect-error an unknown proof kind
createAwsAgentTokenSource({ bridgeUrl: 'https://bridge.example', audience: 'https://bridge.example', proof: 'password' });`
    : `import { createGcpAgentTokenSource } from '@agent-id-bridge/gcp';
const source = createGcpAgentTokenSource({ bridgeUrl: 'https://bridge.example', audience: 'https://bridge.example' });
// @ts-expect-error the bridge URL is required
createGcpAgentTokenSource({ audience: 'https://bridge.example' });`
}
const token: Promise<AgentToken> = source.getToken({ userToken: 'user', forceRefresh: true });
const proof: Proof = { token: 't', tokenType: 'urn:ietf:params:oauth:token-type:jwt' };
const core = createAgentTokenSource({ bridgeUrl: 'https://bridge.example', proof: async () => proof });
export const checks = [token, core.getToken(), (e: unknown) => e instanceof BridgeExchangeError && e.requestId];
`;
    for (const name of ['aws', 'gcp'] as const) {
      const dir = join(work, name);
      for (const ext of ['mts', 'cts']) writeFileSync(join(dir, `check.${ext}`), consumer(name));
      const tsc = [
        join(REPO, 'node_modules/typescript/bin/tsc'),
        'check.mts',
        'check.cts',
        '--noEmit',
        '--strict',
        '--skipLibCheck',
      ];
      const options = [
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--target',
        'es2023',
        '--lib',
        'es2023,dom',
        '--types',
        'node',
        '--typeRoots',
        join(REPO, 'node_modules/@types'),
      ];
      await run(process.execPath, [...tsc, ...options], { cwd: dir, env: outsideEnv(), timeout: RUN_TIMEOUT_MS });
    }
  });

  for (const name of Object.keys(PACKAGES) as PackageName[]) {
    for (const format of FORMATS) {
      for (const runtime of RUNTIMES) {
        it(`issue 10 item 1: @agent-id-bridge/${name} as ${format === 'esm' ? 'ESM (import)' : 'CommonJS (require)'} on the ${runtime.label} Node gets agent tokens from the sandbox`, async () => {
          const out = JSON.parse(await runtime.run([`use.${FILE_EXT[format]}`], join(work, name), childEnv)) as {
            node: string;
            result: { tokens: Record<string, TokenOut>; refused: Record<string, unknown>; cached?: boolean };
          };
          expect(out.node).toBe(runtime.version);
          expect(Object.keys(out.result.tokens).sort()).toEqual(
            name === 'aws' ? ['get-caller-identity', 'web-identity-token'] : ['id-token'],
          );
          for (const t of Object.values(out.result.tokens)) expectAgentToken(t);
          if (name === 'client') expect(out.result.cached).toBe(true);
          // The refusal is the package's own error class, with the bridge's answer and request id.
          expect(out.result.refused).toMatchObject({
            name: 'BridgeExchangeError',
            isBridgeError: true,
            status: 400,
            error: 'invalid_request',
            requestId: expect.any(String),
          });
        });
      }
    }
  }

  for (const format of FORMATS) {
    it(`issue 10 item 1: an esbuild ${format === 'esm' ? 'ESM' : 'CommonJS'} bundle of the Bedrock example answers an action-group event with the agent token, on both Nodes`, async () => {
      const dir = join(work, 'aws');
      cpSync(join(REPO, 'adapters/aws/examples/bedrock-action-group.ts'), join(dir, 'bedrock-action-group.ts'));
      const bundle = join(dir, 'dist', `bedrock.${FILE_EXT[format]}`);
      // The options docs/clients.md gives: everything bundled; for ESM, a `require` for the SDK's CommonJS parts.
      await build({
        absWorkingDir: dir,
        entryPoints: ['bedrock-action-group.ts'],
        outfile: bundle,
        bundle: true,
        platform: 'node',
        target: 'node20',
        format,
        logLevel: 'error',
        ...(format === 'esm'
          ? {
              banner: {
                js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
              },
            }
          : {}),
      });
      expect(readFileSync(bundle, 'utf8')).not.toMatch(/from ['"]@agent-id-bridge\//);
      const runner = join(dir, `run-bedrock.${FILE_EXT[format]}`);
      writeFileSync(runner, bedrockRunner(format));
      for (const [runtime, proof] of [
        [systemNode, 'get-caller-identity'],
        [projectNode, 'web-identity-token'],
      ] as const) {
        const out = JSON.parse(await runtime.run([runner, bundle], dir, { ...childEnv, BRIDGE_PROOF: proof })) as {
          node: string;
          result: {
            response: { functionResponse: { responseState?: string; responseBody: { TEXT: { body: string } } } };
          };
          graphCalls: { path: string; appid: string; aud: string }[];
        };
        expect(out.node).toBe(runtime.version);
        expect(out.result.response.functionResponse).toEqual({
          responseBody: {
            TEXT: {
              body: '{"displayName":"Alice","jobTitle":"Engineer","department":"Agents","mail":"alice@sandbox.example"}',
            },
          },
        });
        expect(out.graphCalls).toEqual([
          { path: '/v1.0/users/alice%40sandbox.example', appid: SANDBOX.agentId, aud: SANDBOX.graph },
        ]);
      }
    });
  }

  it('the ESM bundle without the createRequire banner is the crash docs/clients.md warns about', async () => {
    const dir = join(work, 'aws');
    cpSync(join(REPO, 'adapters/aws/examples/bedrock-action-group.ts'), join(dir, 'bedrock-action-group.ts'));
    const bundle = join(dir, 'dist', 'bedrock-no-banner.mjs');
    await build({
      absWorkingDir: dir,
      entryPoints: ['bedrock-action-group.ts'],
      outfile: bundle,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      logLevel: 'error',
    });
    const runner = join(dir, 'run-bedrock.mjs');
    writeFileSync(runner, bedrockRunner('esm'));
    await expect(
      projectNode.run([runner, bundle], dir, { ...childEnv, BRIDGE_PROOF: 'web-identity-token' }),
    ).rejects.toThrow(/Dynamic require of "node:/);
  });
});
