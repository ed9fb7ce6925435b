/**
 * A Worker with a bad configuration fails closed: it logs what is wrong (option names, never values)
 * once, and answers every request 500 server_error with no detail, on every route.
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createBridgeHandler, type WorkerEnv } from '../../src/worker.ts';
import { gcpIdToken, postForm, stack, TYPES } from './support/bridge.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

async function misconfigured(overrides: Record<string, unknown>): Promise<{ problems: string[]; logged: string }> {
  const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
  const handler = await createBridgeHandler({ ...env, ...overrides } as WorkerEnv);
  for (const path of ['/.well-known/openid-configuration', '/healthz', '/readyz']) {
    const res = await handler(new Request(`${stack.issuer}${path}`));
    expect(res.status).toBe(500);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({
      error: 'server_error',
      error_description: 'The bridge is not configured correctly; the operator must check its logs.',
    });
  }
  const token = await postForm(
    { subject_token: await gcpIdToken(), subject_token_type: TYPES.idToken, resource: stack.graph },
    { via: handler },
  );
  expect(token.status).toBe(500);
  expect(token.body).toMatchObject({ error: 'server_error' });
  const lines = errors.mock.calls.map((c) => String(c[0]));
  errors.mockRestore();
  expect(lines).toHaveLength(1);
  const entry = JSON.parse(lines[0]!) as { type: string; problems: string[] };
  expect(entry.type).toBe('config_error');
  return { problems: entry.problems, logged: lines[0]! };
}

describe('Workers configuration fails closed', () => {
  it('a missing signing key and policy are named, and nothing is served', async () => {
    const { problems } = await misconfigured({ BRIDGE_SIGNING_KEY: undefined, BRIDGE_POLICY: undefined });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^BRIDGE_SIGNING_KEY: required/),
        expect.stringMatching(/^BRIDGE_POLICY_FILE or BRIDGE_POLICY: required/),
      ]),
    );
  });

  it('placeholders left from .dev.vars.example are refused, without echoing any secret', async () => {
    const { problems, logged } = await misconfigured({
      BRIDGE_SIGNING_KEY: 'REPLACE_ME: output of npm run keygen',
      BRIDGE_NEXT_SIGNING_KEY: 'CHANGE-ME',
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'BRIDGE_SIGNING_KEY: still a placeholder; set the real value (wrangler secret put BRIDGE_SIGNING_KEY)',
        expect.stringMatching(/^BRIDGE_NEXT_SIGNING_KEY: still a placeholder/),
      ]),
    );
    expect(logged).not.toContain(String(env.BRIDGE_POLICY).slice(0, 40));
  });

  it('a bad key is named by its option, and its material never logged', async () => {
    const jwk = JSON.parse(String(env.BRIDGE_SIGNING_KEY)) as Record<string, string>;
    const { problems, logged } = await misconfigured({ BRIDGE_SIGNING_KEY: JSON.stringify({ ...jwk, n: 'AQAB' }) });
    expect(problems).toEqual([expect.stringMatching(/^BRIDGE_SIGNING_KEY: /)]);
    expect(logged).not.toContain(jwk.d!);
  });

  it('issue 9 item 1: Redis settings (Node replicas only) are refused by name rather than ignored', async () => {
    const { problems, logged } = await misconfigured({
      BRIDGE_REDIS_URL: 'rediss://bridge:hunter2secret@redis.internal:6380',
    });
    expect(problems).toContain(
      'BRIDGE_REDIS_URL: Node only; on Workers the replay store and rate limits are Durable Objects (docs/workers.md); remove it',
    );
    expect(logged).not.toContain('hunter2secret');
  });

  it('production refuses http, example hosts, and a missing Durable Object binding', async () => {
    const http = await misconfigured({ BRIDGE_MODE: undefined });
    expect(http.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^BRIDGE_ISSUER: must be https/),
        expect.stringMatching(/^ENTRA_AUTHORITY_HOST: must be https/),
      ]),
    );
    const example = await misconfigured({ BRIDGE_MODE: undefined, BRIDGE_ISSUER: 'https://bridge.example.com' });
    expect(example.problems).toContain(
      'BRIDGE_ISSUER: bridge.example.com is an example name; use the custom domain that serves this Worker',
    );
    const unbound = await misconfigured({ REPLAY: undefined });
    expect(unbound.problems).toContain(
      'REPLAY: Durable Object binding missing (see [[durable_objects.bindings]] in wrangler.toml)',
    );
  });

  it('sandbox mode is for loopback only', async () => {
    const { problems } = await misconfigured({ BRIDGE_ISSUER: 'https://bridge.contoso.com' });
    expect(problems).toContainEqual(
      expect.stringMatching(/^BRIDGE_MODE: "sandbox" is for local runs against the emulators only/),
    );
  });
});
