/**
 * Issue 9 item 6: the release build runs the way the container image's CMD runs it
 * (Dockerfile; docs/operations.md, build and run): the bundle alone in a fresh directory, no
 * node_modules anywhere above it, `node --enable-source-maps agent-id-bridge.mjs`, a production
 * configuration with the signing key read from a mounted file. The image build itself is untested.
 */
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRelease } from '../../scripts/build.ts';
import { generateSigningKeyJwk } from '../../src/issuer/keys.ts';
import { nodeVersionProblem } from '../../src/node/require-node.ts';
import { PACKAGE_VERSION } from '../../src/version.ts';
import { MINIMAL_POLICY, startBridgeChild, type BridgeChild } from '../support/bridge-child.ts';

const COMMIT = '0123456789abcdef0123456789abcdef01234567';
let buildDir: string;
let appDir: string;
let bridge: BridgeChild | undefined;

beforeAll(async () => {
  buildDir = mkdtempSync(join(tmpdir(), 'bridge-build-'));
  appDir = mkdtempSync(join(tmpdir(), 'bridge-app-'));
  await buildRelease({ outfile: join(buildDir, 'agent-id-bridge.mjs'), commit: COMMIT });
  for (const f of ['agent-id-bridge.mjs', 'agent-id-bridge.mjs.map']) copyFileSync(join(buildDir, f), join(appDir, f));
}, 60_000);

afterAll(() => {
  bridge?.kill();
  for (const d of [buildDir, appDir]) if (d) rmSync(d, { recursive: true, force: true });
});

describe('issue 9 item 6: the release build', () => {
  it('issue 9 item 6: the bundle started alone from a fresh directory answers discovery, /healthz and /version with the injected commit, then exits 0 on SIGTERM', async () => {
    const keyFile = join(appDir, 'signing.jwk');
    writeFileSync(keyFile, await generateSigningKeyJwk(), { mode: 0o600 });
    chmodSync(appDir, 0o555);
    writeFileSync(join(buildDir, 'policy.yaml'), MINIMAL_POLICY);
    bridge = await startBridgeChild(
      ['--enable-source-maps', 'agent-id-bridge.mjs'],
      {
        BRIDGE_ISSUER: 'https://bridge.example.com',
        BRIDGE_SIGNING_KEY_FILE: keyFile,
        BRIDGE_POLICY_FILE: join(buildDir, 'policy.yaml'),
        BRIDGE_HOST: '127.0.0.1',
        NODE_ENV: 'production',
      },
      { cwd: appDir, startTimeoutMs: 30_000 },
    );
    const discovery = (await (await fetch(`${bridge.url}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(discovery).toMatchObject({
      issuer: 'https://bridge.example.com',
      jwks_uri: 'https://bridge.example.com/.well-known/jwks.json',
    });
    const jwks = (await (await fetch(`${bridge.url}/.well-known/jwks.json`)).json()) as {
      keys: Record<string, unknown>[];
    };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).not.toHaveProperty('d');
    expect(await (await fetch(`${bridge.url}/healthz`)).json()).toEqual({
      status: 'ok',
      version: PACKAGE_VERSION,
      commit: COMMIT,
    });
    expect(await (await fetch(`${bridge.url}/version`)).json()).toEqual({ version: PACKAGE_VERSION, commit: COMMIT });
    expect(await (await fetch(`${bridge.url}/metrics`)).text()).toContain(
      `bridge_build_info{version="${PACKAGE_VERSION}",commit="${COMMIT}"} 1`,
    );
    bridge.child.kill('SIGTERM');
    expect(await bridge.exited).toEqual({ code: 0, signal: null });
    // Every line the process wrote is a JSON log line.
    expect(bridge.lines.filter((l) => 'unparsed' in l)).toEqual([]);
    expect(bridge.stderr()).toBe('');
  }, 60_000);

  it('issue 9 item 6: the bundle carries no emulators: without configuration it refuses to start with exit code 2', async () => {
    const { spawnSync } = await import('node:child_process');
    const run = spawnSync(process.execPath, ['agent-id-bridge.mjs'], {
      cwd: appDir,
      env: { PATH: process.env.PATH ?? '' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(2);
    expect(JSON.parse(run.stderr.trim())).toMatchObject({
      level: 'fatal',
      msg: expect.stringMatching(/no sandbox in this build/),
    });
  }, 60_000);

  it('issue 9 item 6: an unsupported Node.js is refused by name: the build below 22.0, the sources below 22.18', () => {
    expect(nodeVersionProblem('20.20.2', true)).toMatch(/needs Node\.js 22\.0\.0 or later.*this is Node\.js 20\.20\.2/);
    expect(nodeVersionProblem('22.0.0', true)).toBeUndefined();
    expect(nodeVersionProblem('22.12.0', false)).toMatch(
      /needs Node\.js 22\.18\.0 or later to run the TypeScript sources/,
    );
    expect(nodeVersionProblem('22.18.0', false)).toBeUndefined();
    expect(nodeVersionProblem('24.2.0', false)).toBeUndefined();
  });

  it('issue 9 item 6: src/version.ts names the package version, and engines states the sources minimum', () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')) as {
      version: string;
      engines: { node: string };
    };
    expect(PACKAGE_VERSION).toBe(pkg.version);
    expect(pkg.engines.node).toBe('^22.18.0 || >=23.6.0');
  });
});
