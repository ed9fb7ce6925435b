/**
 * The Node entry point as an operator meets it: `node src/node.ts` with a broken configuration
 * refuses to start and names every offending option; the sandbox never starts beside configuration.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { startSandbox } from '../../sandbox/sandbox.ts';

describe('node entry point', () => {
  it('refuses to start on an invalid configuration, naming the options, with exit code 2', () => {
    const env = {
      PATH: process.env.PATH ?? '',
      BRIDGE_ISSUER: 'http://bridge.example.com',
      BRIDGE_POLICY: 'version: 2',
    };
    const run = spawnSync(process.execPath, ['src/node.ts'], { env, encoding: 'utf8', timeout: 15_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/BRIDGE_ISSUER: must be https/);
    expect(run.stderr).toMatch(/BRIDGE_SIGNING_KEY: required/);
    expect(run.stderr).toMatch(/policy\.version/);
    expect(run.stdout).not.toMatch(/SANDBOX/);
  });

  it('issue 9 item 9: one stray BRIDGE_* variable says the sandbox did not start because of it, and what to set or unset', () => {
    const env = { PATH: process.env.PATH ?? '', BRIDGE_RATE_LIMIT_PER_MINUTE: '5' };
    const run = spawnSync(process.execPath, ['src/node.ts'], { env, encoding: 'utf8', timeout: 15_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(
      'the sandbox did not start because BRIDGE_RATE_LIMIT_PER_MINUTE is set; set BRIDGE_ISSUER, BRIDGE_SIGNING_KEY, BRIDGE_POLICY_FILE to run the bridge, or unset BRIDGE_RATE_LIMIT_PER_MINUTE to run the sandbox',
    );
  });

  it('the sandbox refuses to start when bridge configuration is present', async () => {
    await expect(startSandbox({ port: 0, env: { BRIDGE_POLICY_FILE: '/etc/bridge/policy.yaml' } })).rejects.toThrow(
      /refusing to start the sandbox/,
    );
    await expect(
      startSandbox({ port: 0, env: { ENTRA_AUTHORITY_HOST: 'https://login.microsoftonline.com' } }),
    ).rejects.toThrow(/refusing/);
  });
});
