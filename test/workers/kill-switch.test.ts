/**
 * Issue 9 item 8, the kill switch on Workers: a deny list in a Durable Object, set through
 * PUT /admin/deny with the operator credential BRIDGE_ADMIN_TOKEN (never a workload proof), applies
 * without a redeploy; a denial is audited as denied_by_operator and answered like a missing rule.
 */
import { env } from 'cloudflare:workers';
import { decodeJwt } from 'jose';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { toWire } from '../../src/errors.ts';
import { createBridgeHandler, type BridgeHandler, type WorkerEnv } from '../../src/worker.ts';
import { gcpIdToken, n8nAssertion, postForm, stack, TYPES, worker } from './support/bridge.ts';

const ADMIN_TOKEN = 'test-operator-credential-0123456789abcdef';
const noRule = toWire('no_rule_matches');

/** `token` '' sends no Authorization header. */
function admin(via: BridgeHandler, method: 'GET' | 'PUT', body?: unknown, token = ADMIN_TOKEN): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== '') headers.authorization = `Bearer ${token}`;
  return via(
    new Request(`${stack.issuer}/admin/deny`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    }),
  );
}

/** Audit lines the Worker wrote (console.log JSON lines, Workers Logs) while `run` ran. */
async function auditOf(run: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const spy = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    await run();
    return spy.mock.calls.map((c) => JSON.parse(String(c[0])) as Record<string, unknown>);
  } finally {
    spy.mockRestore();
  }
}

describe('issue 9 item 8: the Workers kill switch', () => {
  let isolate: BridgeHandler;
  afterAll(async () => {
    if (isolate) await admin(isolate, 'PUT', {});
  });

  it('issue 9 item 8: without BRIDGE_ADMIN_TOKEN there is no admin endpoint', async () => {
    const res = await admin(worker, 'GET');
    expect(res.status).toBe(404);
  });

  it('issue 9 item 8: the admin endpoint takes only the operator credential, not a workload proof', async () => {
    isolate = await createBridgeHandler({ ...env, BRIDGE_ADMIN_TOKEN: ADMIN_TOKEN });
    expect((await admin(isolate, 'GET', undefined, '')).status).toBe(401);
    expect((await admin(isolate, 'GET', undefined, `${ADMIN_TOKEN}x`)).status).toBe(401);
    const withProof = await admin(isolate, 'PUT', { agents: [stack.agentId] }, await gcpIdToken());
    expect(withProof.status).toBe(401);
    expect(withProof.headers.get('www-authenticate')).toBe('Bearer');
    const bad = await admin(isolate, 'PUT', { agents: ['not-a-guid'], principals: { nope: ['x'] } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error_description: string }).error_description).toMatch(
      /deny\.agents\.0: must be a GUID/,
    );
    const read = await admin(isolate, 'GET');
    expect(read.status).toBe(200);
    expect(read.headers.get('cache-control')).toBe('no-store');
  });

  it('issue 9 item 8: a principal denied through the endpoint is refused at once, audited as denied_by_operator, and in a new isolate too', async () => {
    isolate ??= await createBridgeHandler({ ...env, BRIDGE_ADMIN_TOKEN: ADMIN_TOKEN });
    const proof = await gcpIdToken();
    const principal = decodeJwt(proof).sub!;
    expect(
      (
        await postForm(
          { subject_token: proof, subject_token_type: TYPES.idToken, resource: stack.graph },
          { via: isolate },
        )
      ).status,
    ).toBe(200);

    const put = await admin(isolate, 'PUT', { principals: { gcp: [principal] } });
    expect(put.status).toBe(200);
    let res!: Awaited<ReturnType<typeof postForm>>;
    const lines = await auditOf(async () => {
      res = await postForm(
        { subject_token: proof, subject_token_type: TYPES.idToken, resource: stack.graph },
        { via: isolate },
      );
    });
    expect(res.status).toBe(noRule.status);
    expect(res.body).toMatchObject({ error: noRule.error, error_description: noRule.description });
    expect(lines.find((l) => l.route === '/token')).toMatchObject({
      outcome: 'denied',
      reason: 'denied_by_operator',
      fields: { list: 'principals', received: principal },
    });

    // Another isolate reads the same Durable Object.
    const other = await createBridgeHandler({ ...env, BRIDGE_ADMIN_TOKEN: ADMIN_TOKEN });
    expect(
      (
        await postForm(
          { subject_token: await gcpIdToken(), subject_token_type: TYPES.idToken, resource: stack.graph },
          { via: other },
        )
      ).body,
    ).toMatchObject({ error: noRule.error });
    // Other workloads are untouched.
    expect(
      (
        await postForm(
          { subject_token: await n8nAssertion(), subject_token_type: TYPES.jwt, resource: stack.graph },
          { via: isolate },
        )
      ).status,
    ).toBe(200);

    expect((await admin(isolate, 'PUT', {})).status).toBe(200);
    expect(
      (
        await postForm(
          { subject_token: await gcpIdToken(), subject_token_type: TYPES.idToken, resource: stack.graph },
          { via: isolate },
        )
      ).status,
    ).toBe(200);
  });

  it('issue 9 item 8: when the deny list cannot be read, requests are refused (503), never let through unchecked', async () => {
    const broken = {
      getByName: () => ({
        read: async () => Promise.reject(new Error('object unavailable')),
        write: async () => undefined,
      }),
    };
    const isolateWithoutList = await createBridgeHandler({
      ...env,
      BRIDGE_ADMIN_TOKEN: ADMIN_TOKEN,
      DENY_LIST: broken as unknown as WorkerEnv['DENY_LIST'],
    });
    const res = await postForm(
      { subject_token: await gcpIdToken(), subject_token_type: TYPES.idToken, resource: stack.graph },
      { via: isolateWithoutList },
    );
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ error: 'temporarily_unavailable' });
    expect(res.headers.get('retry-after')).toBe('5');
  });
});
