/**
 * Refusals and modes inside workerd, through the Worker: generic RFC 8693 errors with no-store and a
 * request id, nothing echoed; OBO and agent-user exchanges; Entra throttling surfaced as 503 with
 * Retry-After; per-principal rate limits counted in the Durable Object.
 */
import { env } from 'cloudflare:workers';
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { createBridgeHandler } from '../../src/worker.ts';
import {
  awsGetCallerIdentity,
  gcpIdToken,
  n8nAssertion,
  postForm,
  stack,
  stsCalls,
  TYPES,
  worker,
} from './support/bridge.ts';

describe('Workers: refusals', () => {
  it('a proof bound to another audience: 400 invalid_request, generic, no-store, request id, nothing echoed', async () => {
    const proof = await gcpIdToken('https://other-bridge.example');
    const res = await postForm({ subject_token: proof, subject_token_type: TYPES.idToken, resource: stack.graph });
    expect(res.status).toBe(400);
    // The expected audience is public; the caller is told it.
    expect(res.body).toEqual({
      error: 'invalid_request',
      error_description: `The workload proof could not be verified. Its audience (aud) must be "${stack.audience}".`,
      request_id: expect.any(String),
    });
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-request-id')).toBe(res.body.request_id);
  });

  it('AWS kind 1 signed for another audience is refused before STS is asked', async () => {
    const before = (await stsCalls()).length;
    const res = await postForm({
      subject_token: await awsGetCallerIdentity({ audience: 'https://other-bridge.example' }),
      subject_token_type: TYPES.aws4Request,
      resource: stack.graph,
    });
    expect(res.status).toBe(400);
    expect((await stsCalls()).length).toBe(before);
  });

  it('a target the policy does not allow: 400 invalid_target', async () => {
    const proof = await gcpIdToken();
    expect(
      (
        await postForm({
          subject_token: proof,
          subject_token_type: TYPES.idToken,
          resource: 'https://management.azure.com',
        })
      ).body,
    ).toMatchObject({ error: 'invalid_target' });
    expect(
      (
        await postForm({
          subject_token: proof,
          subject_token_type: TYPES.idToken,
          resource: stack.graph,
          audience: stack.otherAgentId,
        })
      ).body,
    ).toMatchObject({ error: 'invalid_target' });
  });

  it('wrong grant, wrong media type, unknown route', async () => {
    expect(
      (await postForm({ grant_type: 'client_credentials', subject_token: 'x', subject_token_type: TYPES.jwt })).body,
    ).toMatchObject({ error: 'unsupported_grant_type' });
    const json = await worker(
      new Request(`${stack.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      }),
    );
    expect(json.status).toBe(400);
    expect(json.headers.get('cache-control')).toBe('no-store');
    const missing = await worker(new Request(`${stack.issuer}/nope`));
    expect(missing.status).toBe(404);
  });

  it('per-principal rate limit, counted in the Durable Object across isolates: 429 with Retry-After', async () => {
    const limited = { ...env, BRIDGE_RATE_LIMIT_PER_MINUTE: '2' };
    const [a, b] = await Promise.all([createBridgeHandler(limited), createBridgeHandler(limited)]);
    // A workflow no rule names: counted before the policy refuses it, so this test owns its counter.
    const workflowId = `RateLimited${crypto.randomUUID().slice(0, 8)}`;
    const ask = async (via: typeof a) =>
      postForm(
        { subject_token: await n8nAssertion({ workflowId }), subject_token_type: TYPES.jwt, resource: stack.graph },
        { via },
      );
    expect((await ask(a)).body).toMatchObject({ error: 'invalid_request' });
    expect((await ask(b)).body).toMatchObject({ error: 'invalid_request' });
    const third = await ask(a);
    expect(third.status).toBe(429);
    expect(third.body).toMatchObject({ error: 'temporarily_unavailable' });
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('Workers: delegated modes and Entra faults', () => {
  it("on behalf of a signed-in user: the user's token for the agent", async () => {
    const h = stack.humanUser;
    const signIn = await fetch(`${stack.entraUrl}/${stack.tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: h.clientId,
        username: h.username,
        password: h.password,
        scope: h.scope,
      }).toString(),
    });
    const userToken = ((await signIn.json()) as { access_token: string }).access_token;
    const res = await postForm({
      subject_token: userToken,
      subject_token_type: TYPES.accessToken,
      actor_token: await gcpIdToken(),
      actor_token_type: TYPES.idToken,
      scope: `${stack.graph}/User.Read`,
    });
    expect(res.status).toBe(200);
    expect(decodeJwt(String(res.body.access_token))).toMatchObject({ appid: stack.agentId, idtyp: 'user' });
  });

  it("agent user: a token for the agent's own user account", async () => {
    const res = await postForm({
      subject_token: await n8nAssertion(),
      subject_token_type: TYPES.jwt,
      agent_user: 'agent-one@sandbox.example',
      scope: `${stack.graph}/User.Read`,
    });
    expect(res.status).toBe(200);
    expect(decodeJwt(String(res.body.access_token))).toMatchObject({ upn: 'agent-one@sandbox.example', idtyp: 'user' });
  });

  it("Entra throttling: 503 temporarily_unavailable with Entra's Retry-After", async () => {
    // A fresh isolate: nothing cached, so the request reaches Entra.
    const fresh = await createBridgeHandler(env);
    const fault = { kind: 'throttle', retryAfterSec: 30 };
    await fetch(`${stack.entraUrl}/_emulator/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ fault, count: 3 }),
    });
    const res = await postForm(
      { subject_token: await gcpIdToken(), subject_token_type: TYPES.idToken, resource: stack.graph },
      { via: fresh },
    );
    await fetch(`${stack.entraUrl}/_emulator/faults`, { method: 'DELETE' });
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ error: 'temporarily_unavailable' });
    expect(res.headers.get('retry-after')).toBe('30');
  });
});
