/**
 * The bridge inside workerd, end to end: the Worker of wrangler.toml, built from its
 * bindings, with Durable Object state and the fetch Entra transport, exchanges every platform's
 * proof for an agent token from the Entra emulator, which checked the bridge's assertion against the
 * issuer's published JWKS.
 */
import { env } from 'cloudflare:workers';
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { createBridgeHandler } from '../../src/worker.ts';
import {
  awsGetCallerIdentity,
  awsWebIdentityToken,
  entraCalls,
  gcpIdToken,
  n8nAssertion,
  postForm,
  stack,
  stsCalls,
  TYPES,
  worker,
} from './support/bridge.ts';

describe('Workers: discovery and health', () => {
  it('serves discovery and the JWKS for the configured issuer, with the fetch Entra transport', async () => {
    const discovery = await worker(new Request(`${stack.issuer}/.well-known/openid-configuration`));
    expect(discovery.status).toBe(200);
    expect(await discovery.json()).toMatchObject({
      issuer: stack.issuer,
      jwks_uri: `${stack.issuer}/.well-known/jwks.json`,
      id_token_signing_alg_values_supported: ['RS256'],
    });
    const jwks = (await (await worker(new Request(`${stack.issuer}/.well-known/jwks.json`))).json()) as {
      keys: Record<string, unknown>[];
    };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: expect.any(String) });
    expect(jwks.keys[0]).not.toHaveProperty('d');
    const ready = (await (await worker(new Request(`${stack.issuer}/readyz`))).json()) as Record<string, unknown>;
    expect(ready).toMatchObject({
      status: 'ready',
      entra_transport: 'fetch',
      platforms: expect.arrayContaining(['gcp', 'aws', 'n8n']),
    });
  });
});

describe('Workers: every platform → agent token', () => {
  it('GCP: a metadata-server ID token → an app-only Graph token for the agent', async () => {
    // A fresh isolate: nothing cached, so this exchange runs both legs against the emulator.
    const fresh = await createBridgeHandler(env);
    const before = (await entraCalls()).length;
    const res = await postForm(
      { subject_token: await gcpIdToken(), subject_token_type: TYPES.idToken, resource: stack.graph },
      { via: fresh },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).toMatchObject({
      issued_token_type: TYPES.accessToken,
      token_type: 'Bearer',
      agent_id: stack.agentId,
    });
    expect(decodeJwt(String(res.body.access_token))).toMatchObject({
      aud: stack.graph,
      appid: stack.agentId,
      idtyp: 'app',
      tid: stack.tenantId,
      xms_par_app_azp: stack.blueprintId,
    });
    const calls = (await entraCalls()).slice(before);
    expect(calls.map((c) => [c.leg, c.status])).toEqual([
      ['leg1', 200],
      ['leg2', 200],
    ]);
    expect(calls[0]).toMatchObject({ fmiPath: stack.agentId, clientId: stack.blueprintId });
  });

  it('AWS kind 1: a GetCallerIdentity signed in Node → forwarded to STS → a token for the v2 API', async () => {
    const res = await postForm({
      subject_token: await awsGetCallerIdentity(),
      subject_token_type: TYPES.aws4Request,
      scope: `${stack.api}/.default`,
    });
    expect(res.status).toBe(200);
    expect(decodeJwt(String(res.body.access_token))).toMatchObject({
      azp: stack.agentId,
      idtyp: 'app',
      roles: ['Orders.Read'],
    });
    expect((await stsCalls()).filter((c) => c.action === 'GetCallerIdentity').at(-1)).toMatchObject({
      host: stack.aws.stsHost,
      status: 200,
    });
  });

  it('AWS kind 2: a GetWebIdentityToken JWT (ES384) verified offline → a Graph token', async () => {
    const res = await postForm({
      subject_token: await awsWebIdentityToken({ alg: 'ES384' }),
      subject_token_type: TYPES.jwt,
      resource: stack.graph,
    });
    expect(res.status).toBe(200);
    expect(decodeJwt(String(res.body.access_token))).toMatchObject({ appid: stack.agentId, aud: stack.graph });
  });

  it('n8n: an instance assertion → a Graph token; the same jti a second time is refused', async () => {
    const assertion = await n8nAssertion();
    const first = await postForm({ subject_token: assertion, subject_token_type: TYPES.jwt, resource: stack.graph });
    expect(first.status).toBe(200);
    expect(decodeJwt(String(first.body.access_token))).toMatchObject({ appid: stack.agentId });
    const again = await postForm({ subject_token: assertion, subject_token_type: TYPES.jwt, resource: stack.graph });
    expect(again.status).toBe(400);
    expect(again.body).toMatchObject({ error: 'invalid_request' });
    expect(JSON.stringify(again.body)).not.toContain(assertion);
  });
});
