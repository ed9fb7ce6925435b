import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { GoogleAuth, OAuth2Client } from 'google-auth-library';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGcpAgentTokenSource } from '../../../adapters/gcp/client.ts';
import { createGcpVerifier } from '../../../adapters/gcp/index.ts';
import { BridgeExchangeError } from '../../../src/client/exchange.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE } from '../../../src/constants.ts';
import { createBoundedFetch } from '../../../src/net/bounded-fetch.ts';
import type { VerifyContext, WorkloadVerifier } from '../../../src/verify/contract.ts';
import { startGcpEmulator, type GcpEmulator } from '../../emulators/gcp/index.ts';

const NOW = Math.floor(Date.now() / 1000);
const AUDIENCE = 'https://bridge.example.test';
const ctx: VerifyContext = { now: NOW, audience: AUDIENCE, issuer: AUDIENCE };

/** Environment google-auth-library reads; set for the emulator and restored afterwards. */
const ENV_KEYS = [
  'GCE_METADATA_HOST',
  'GCE_METADATA_IP',
  'GOOGLE_APPLICATION_CREDENTIALS',
  'GOOGLE_CLOUD_PROJECT',
  'GCLOUD_PROJECT',
  'METADATA_SERVER_DETECTION',
  'PATH',
] as const;
const savedEnv = new Map<string, string | undefined>();

let emulator: GcpEmulator;
let verifier: WorkloadVerifier;
let bridge: FakeBridge;

beforeAll(async () => {
  emulator = await startGcpEmulator({ clock: () => NOW });
  verifier = createGcpVerifier(
    { jwksUrl: emulator.jwksUrl },
    { fetch: createBoundedFetch({ allowInsecureLoopback: true }), clock: () => NOW },
  );
  bridge = await startFakeBridge(verifier);
  for (const key of ENV_KEYS) savedEnv.set(key, process.env[key]);
  for (const key of ENV_KEYS) delete process.env[key];
  process.env.GCE_METADATA_HOST = emulator.metadataHost;
  // Without a project in the environment google-auth-library shells out to `gcloud`; this machine has
  // the SDK installed, a Cloud Run container does not. An empty PATH makes it fall through to the
  // metadata server's project-id, as on GCP.
  process.env.PATH = '/nonexistent';
});

afterAll(async () => {
  for (const [key, value] of savedEnv) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  await bridge.close();
  await emulator.close();
});

describe('google-auth-library against the metadata emulator', () => {
  it('gets a format=full ID token the GCP verifier accepts, through the paths a real GCE client uses', async () => {
    const auth = new GoogleAuth();
    const client = await auth.getIdTokenClient(AUDIENCE);
    const idToken = await client.idTokenProvider.fetchIdToken(AUDIENCE);

    const result = await verifier.verify({ token: idToken, tokenType: TOKEN_TYPE.idToken }, ctx);
    expect(result.ok).toBe(true);
    expect(result.ok && result.value.principal).toBe(emulator.serviceAccount.uniqueId);
    expect(result.ok && result.value.attributes).toMatchObject({
      email: emulator.serviceAccount.email,
      project_id: emulator.serviceAccount.projectId,
    });

    expect(emulator.requests).toEqual(
      expect.arrayContaining([
        'GET /computeMetadata/v1/instance',
        'GET /computeMetadata/v1/project/project-id',
        `GET /computeMetadata/v1/instance/service-accounts/default/identity?format=full&audience=${AUDIENCE}`,
      ]),
    );
  });

  it("serves Google's v1 PEM certs the way OAuth2Client.verifyIdToken expects them", async () => {
    const idToken = await emulator.mintIdToken({ audience: AUDIENCE, format: 'full' });
    const oauth2 = new OAuth2Client({
      endpoints: { oauth2FederatedSignonPemCertsUrl: `${emulator.url}/oauth2/v1/certs` },
    });
    // The library's clock is the wall clock; the emulator's is pinned to NOW, taken at load.
    const ticket = await oauth2.verifyIdToken({ idToken, audience: AUDIENCE });
    expect(ticket.getPayload()?.sub).toBe(emulator.serviceAccount.uniqueId);
  });

  it('refuses requests without Metadata-Flavor: Google, and proxied requests', async () => {
    const identity = `${emulator.url}/computeMetadata/v1/instance/service-accounts/default/identity?audience=${encodeURIComponent(AUDIENCE)}`;
    const refused: Record<string, string>[] = [
      {},
      { 'Metadata-Flavor': 'google-ish' },
      { 'Metadata-Flavor': 'Google', 'X-Forwarded-For': '10.0.0.1' },
    ];
    for (const headers of refused) {
      const res = await fetch(identity, { headers });
      expect(res.status).toBe(403);
      expect(res.headers.get('metadata-flavor')).toBe('Google');
      expect(await res.text()).not.toMatch(/^eyJ/);
    }
    const ok = await fetch(identity, { headers: { 'Metadata-Flavor': 'Google' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('metadata-flavor')).toBe('Google');
  });

  it('answers 400 to an identity request without audience, and adds license_id with format=full&licenses=TRUE', async () => {
    const base = `${emulator.url}/computeMetadata/v1/instance/service-accounts/default/identity`;
    const headers = { 'Metadata-Flavor': 'Google' };
    expect((await fetch(base, { headers })).status).toBe(400);
    expect((await fetch(`${base}?audience=`, { headers })).status).toBe(400);
    const token = await (await fetch(`${base}?audience=x&format=full&licenses=TRUE`, { headers })).text();
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
      google: { compute_engine: Record<string, unknown> };
    };
    expect(payload.google.compute_engine.license_id).toEqual([]);
  });
});

describe('createGcpAgentTokenSource', () => {
  const options = { bridgeUrl: '', audience: AUDIENCE, resource: 'https://graph.microsoft.com', agent: 'agent-1' };

  it('exchanges a metadata-server ID token at /token and caches the agent token', async () => {
    const source = createGcpAgentTokenSource({ ...options, bridgeUrl: bridge.url });
    const before = bridge.calls.length;
    const first = await source.getToken();
    expect(first).toMatchObject({
      accessToken: `at-${before + 1}`,
      scope: 'https://graph.microsoft.com/.default',
      agentId: 'agent-1',
    });
    expect(first.expiresAt).toBeGreaterThan(Date.now() / 1000 + 3000);

    const form = bridge.calls.at(-1)!;
    expect(form.get('grant_type')).toBe(GRANT_TYPE_TOKEN_EXCHANGE);
    expect(form.get('subject_token_type')).toBe(TOKEN_TYPE.idToken);
    expect(form.get('resource')).toBe('https://graph.microsoft.com');
    expect(form.get('audience')).toBe('agent-1');

    const identityFetches = countIdentityFetches();
    expect(await source.getToken()).toEqual(first);
    expect(bridge.calls.length).toBe(before + 1);
    expect(countIdentityFetches()).toBe(identityFetches);
  });

  it('shares one exchange between concurrent callers', async () => {
    const source = createGcpAgentTokenSource({ ...options, bridgeUrl: bridge.url });
    const before = bridge.calls.length;
    const tokens = await Promise.all([source.getToken(), source.getToken(), source.getToken()]);
    expect(bridge.calls.length).toBe(before + 1);
    expect(new Set(tokens.map((t) => t.accessToken)).size).toBe(1);
  });

  it('renews a token that expires within five minutes', async () => {
    const source = createGcpAgentTokenSource({
      ...options,
      bridgeUrl: bridge.url,
      resource: 'https://short-lived.example',
    });
    const before = bridge.calls.length;
    await source.getToken();
    await source.getToken();
    expect(bridge.calls.length).toBe(before + 2);
  });

  it('sends the ID token as actor_token in OBO mode', async () => {
    const source = createGcpAgentTokenSource({ ...options, bridgeUrl: bridge.url });
    await source.getToken({ userToken: 'user-token-abc' });
    const form = bridge.calls.at(-1)!;
    expect(form.get('subject_token')).toBe('user-token-abc');
    expect(form.get('subject_token_type')).toBe(TOKEN_TYPE.accessToken);
    expect(form.get('actor_token_type')).toBe(TOKEN_TYPE.idToken);
  });

  it('turns an OAuth error body into BridgeExchangeError and does not cache the failure', async () => {
    const source = createGcpAgentTokenSource({ ...options, bridgeUrl: bridge.url, resource: 'https://denied.example' });
    const before = bridge.calls.length;
    const error = await source.getToken().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BridgeExchangeError);
    expect(error).toMatchObject({
      status: 400,
      error: 'invalid_target',
      errorDescription: 'The requested resource is not allowed for this workload.',
    });
    await expect(source.getToken()).rejects.toBeInstanceOf(BridgeExchangeError);
    expect(bridge.calls.length).toBe(before + 2);
  });

  it('refuses an audience google-auth-library would send mangled', () => {
    expect(() =>
      createGcpAgentTokenSource({ ...options, bridgeUrl: bridge.url, audience: 'https://bridge.example/?a=1&b=2' }),
    ).toThrow(TypeError);
  });
});

function countIdentityFetches(): number {
  return emulator.requests.filter((r) => r.includes('/service-accounts/default/identity')).length;
}

interface FakeBridge {
  url: string;
  /** Form bodies of every POST /token, oldest first. */
  calls: URLSearchParams[];
  close(): Promise<void>;
}

/** A stand-in for the bridge's /token: verifies the GCP proof for real, answers like RFC 8693 §2.2. */
async function startFakeBridge(gcp: WorkloadVerifier): Promise<FakeBridge> {
  const calls: URLSearchParams[] = [];
  const app = new Hono();
  app.post('/token', async (c) => {
    const form = new URLSearchParams(await c.req.text());
    calls.push(form);
    const proof = form.get('actor_token') ?? form.get('subject_token') ?? '';
    const verified = await gcp.verify({ token: proof, tokenType: TOKEN_TYPE.idToken }, ctx);
    if (!verified.ok)
      return c.json({ error: 'invalid_request', error_description: 'The workload proof could not be verified.' }, 400);
    const resource = form.get('resource') ?? '';
    if (resource === 'https://denied.example') {
      return c.json(
        { error: 'invalid_target', error_description: 'The requested resource is not allowed for this workload.' },
        400,
      );
    }
    return c.json({
      access_token: `at-${calls.length}`,
      issued_token_type: TOKEN_TYPE.accessToken,
      token_type: 'Bearer',
      expires_in: resource === 'https://short-lived.example' ? 240 : 3600,
      scope: `${resource}/.default`,
      agent_id: form.get('audience'),
    });
  });
  const { server, address } = await new Promise<{ server: Server; address: AddressInfo }>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (address) =>
      resolve({ server: s, address }),
    ) as Server;
  });
  return {
    url: `http://127.0.0.1:${address.port}`,
    calls,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
