/**
 * Every refused input of docs/operations.md#failures through the real app over HTTP: the right status and `error`,
 * `Cache-Control: no-store`, no token in the answer, nothing issued, and (where the refusal comes
 * before Entra) no call to Entra at all. The detailed reason is in the audit log, not the answer.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/audit.ts';
import { MAX_TOKEN_BYTES, TOKEN_TYPE } from '../../src/constants.ts';
import { buildGcpVector, loadGcpVectors } from '../vectors/gcp/build.ts';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';
import { postToken, type TokenResponse } from '../support/http.ts';

let sb: Sandbox;
const audit: AuditEvent[] = [];

beforeAll(async () => {
  sb = await startSandbox({ port: 0, audit: (e) => audit.push(e) });
});
afterAll(async () => sb?.close());
beforeEach(() => {
  sb.entra.resetCalls();
  audit.length = 0;
});

const proof = () => sb.gcp.emulator.mintIdToken({ audience: sb.url, format: 'full' });

function expectRefused(res: TokenResponse, status: number, error: string) {
  expect(res.status).toBe(status);
  expect(res.body.error).toBe(error);
  expect(typeof res.body.error_description).toBe('string');
  expect(res.body).not.toHaveProperty('access_token');
  expect(JSON.stringify(res.body)).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(audit.at(-1)).toMatchObject({ outcome: status >= 500 ? 'error' : 'denied' });
  expect(audit.at(-1)).not.toHaveProperty('token_sha256');
}

describe('hostile or broken GCP proofs are refused before Entra (vectors in test/vectors/gcp)', () => {
  const vectors = loadGcpVectors();
  it.each(vectors.map((v) => [v.name, v] as const))('%s', async (_name, v) => {
    const token = await buildGcpVector(v, sb.gcp.emulator, { now: Math.floor(Date.now() / 1000), audience: sb.url });
    const res = await postToken(sb.url, {
      subject_token: token,
      subject_token_type: TOKEN_TYPE.idToken,
      resource: SANDBOX.graph,
    });
    expectRefused(res, 400, 'invalid_request');
    // Routing reads the unverified iss first: a proof with no readable iss is refused as malformed there.
    const routedEarlier = v.name === 'iss-missing' || v.name.startsWith('garbage');
    expect(audit.at(-1)!.reason).toBe(routedEarlier ? 'proof_malformed' : v.expect);
    expect(sb.entra.calls).toHaveLength(0);
  });

  it('refuses a token bound to another audience (a proof meant for another service)', async () => {
    const token = await sb.gcp.emulator.mintIdToken({ audience: 'https://other-service.example.com', format: 'full' });
    const res = await postToken(sb.url, {
      subject_token: token,
      subject_token_type: TOKEN_TYPE.idToken,
      resource: SANDBOX.graph,
    });
    expectRefused(res, 400, 'invalid_request');
    expect(audit.at(-1)!.reason).toBe('proof_audience');
  });

  it('refuses a token over the size cap', async () => {
    const res = await postToken(sb.url, {
      subject_token: `eyJ${'a'.repeat(MAX_TOKEN_BYTES)}`,
      subject_token_type: TOKEN_TYPE.idToken,
      resource: SANDBOX.graph,
    });
    expectRefused(res, 400, 'invalid_request');
    expect(audit.at(-1)!.reason).toBe('proof_too_large');
  });
});

describe('malformed requests', () => {
  it('refuses a JSON body', async () => {
    const res = await postToken(
      sb.url,
      {},
      { raw: JSON.stringify({ grant_type: 'x' }), contentType: 'application/json' },
    );
    expectRefused(res, 400, 'invalid_request');
  });

  it('refuses duplicate parameters', async () => {
    const p = await proof();
    const body = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: p,
      subject_token_type: TOKEN_TYPE.idToken,
      resource: SANDBOX.graph,
    });
    body.append('subject_token_type', TOKEN_TYPE.jwt);
    expectRefused(await postToken(sb.url, {}, { raw: body.toString() }), 400, 'invalid_request');
  });

  it('refuses an unknown subject_token_type', async () => {
    expectRefused(
      await postToken(sb.url, {
        subject_token: await proof(),
        subject_token_type: 'urn:ietf:params:oauth:token-type:saml2',
        resource: SANDBOX.graph,
      }),
      400,
      'invalid_request',
    );
  });

  it('refuses another grant type with unsupported_grant_type', async () => {
    expectRefused(
      await postToken(sb.url, {
        grant_type: 'client_credentials',
        subject_token: await proof(),
        subject_token_type: TOKEN_TYPE.idToken,
        resource: SANDBOX.graph,
      }),
      400,
      'unsupported_grant_type',
    );
  });

  it('refuses two resources with invalid_target', async () => {
    const body = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: await proof(),
      subject_token_type: TOKEN_TYPE.idToken,
      resource: SANDBOX.graph,
    });
    body.append('resource', SANDBOX.api);
    expectRefused(await postToken(sb.url, {}, { raw: body.toString() }), 400, 'invalid_target');
  });

  it('refuses a body over the cap with 413', async () => {
    const res = await postToken(sb.url, {}, { raw: `a=${'x'.repeat(60 * 1024)}` });
    expectRefused(res, 413, 'invalid_request');
  });
});

describe('policy refusals (verified workload, target not allowed)', () => {
  it('refuses a resource the rule does not allow', async () => {
    expectRefused(
      await postToken(sb.url, {
        subject_token: await proof(),
        subject_token_type: TOKEN_TYPE.idToken,
        resource: 'https://vault.azure.net',
      }),
      400,
      'invalid_target',
    );
    expect(audit.at(-1)).toMatchObject({
      reason: 'resource_not_allowed',
      rule: 'sandbox-gcp-service-account',
      principal: sb.gcp.emulator.serviceAccount.uniqueId,
    });
    expect(sb.entra.calls).toHaveLength(0);
  });

  it('refuses an agent the rule does not allow', async () => {
    expectRefused(
      await postToken(sb.url, {
        subject_token: await proof(),
        subject_token_type: TOKEN_TYPE.idToken,
        resource: SANDBOX.graph,
        audience: SANDBOX.otherAgentId,
      }),
      400,
      'invalid_target',
    );
    expect(audit.at(-1)!.reason).toBe('agent_not_allowed');
    expect(sb.entra.calls).toHaveLength(0);
  });

  it('refuses an agent user the rule does not allow', async () => {
    expectRefused(
      await postToken(sb.url, {
        subject_token: await proof(),
        subject_token_type: TOKEN_TYPE.idToken,
        resource: SANDBOX.graph,
        agent_user: 'someone-else@sandbox.example',
      }),
      400,
      'invalid_target',
    );
    expect(audit.at(-1)!.reason).toBe('agent_user_not_allowed');
    expect(sb.entra.calls).toHaveLength(0);
  });

  it('refuses a workload no rule matches (another service account)', async () => {
    const other = await sb.gcp.emulator.mintIdToken({
      audience: sb.url,
      format: 'full',
      claims: { sub: '100000000000000000001', azp: '100000000000000000001' },
    });
    expectRefused(
      await postToken(sb.url, {
        subject_token: other,
        subject_token_type: TOKEN_TYPE.idToken,
        resource: SANDBOX.graph,
      }),
      400,
      'invalid_request',
    );
    expect(audit.at(-1)).toMatchObject({ reason: 'no_rule_matches', principal: '100000000000000000001' });
    expect(sb.entra.calls).toHaveLength(0);
  });
});

describe('/explain: a dry run for the caller only, never Entra, never a token', () => {
  it('explains an allowed request without calling Entra', async () => {
    const res = await postToken(
      sb.url,
      { subject_token: await proof(), subject_token_type: TOKEN_TYPE.idToken, resource: SANDBOX.graph },
      { path: '/explain' },
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      allowed: true,
      rule: 'sandbox-gcp-service-account',
      agent_id: SANDBOX.agentId,
      workload: { platform: 'gcp', principal: sb.gcp.emulator.serviceAccount.uniqueId },
    });
    expect(res.body).not.toHaveProperty('access_token');
    expect(sb.entra.calls).toHaveLength(0);
  });

  it('explains a denial with the reason, without naming rules that did not match the caller', async () => {
    const res = await postToken(
      sb.url,
      { subject_token: await proof(), subject_token_type: TOKEN_TYPE.idToken, resource: 'https://vault.azure.net' },
      { path: '/explain' },
    );
    expect(res.body).toMatchObject({ allowed: false, error: 'invalid_target', reason: 'resource_not_allowed' });
  });

  it('tells an unauthenticated caller nothing about the policy', async () => {
    const res = await postToken(
      sb.url,
      {
        subject_token: 'eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2FjY291bnRzLmdvb2dsZS5jb20ifQ.',
        subject_token_type: TOKEN_TYPE.idToken,
        resource: SANDBOX.graph,
      },
      { path: '/explain' },
    );
    expectRefused(res, 400, 'invalid_request');
    expect(JSON.stringify(res.body)).not.toMatch(/sandbox-gcp|rule/);
  });
});

describe('rate limit per principal', () => {
  let limited: Sandbox;
  beforeAll(async () => {
    limited = await startSandbox({ port: 0, overrides: { BRIDGE_RATE_LIMIT_PER_MINUTE: '2' }, audit: () => {} });
  });
  afterAll(async () => limited?.close());

  it('answers 429 with Retry-After once a principal exceeds its limit, and issues nothing', async () => {
    const token = await limited.gcp.emulator.mintIdToken({ audience: limited.url, format: 'full' });
    const fields = { subject_token: token, subject_token_type: TOKEN_TYPE.idToken, resource: SANDBOX.graph };
    // Fixed one-minute windows: five requests hit the limit even if a window boundary falls among them.
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await postToken(limited.url, fields));
    expect(answers.slice(0, 2).map((a) => a.status)).toEqual([200, 200]);
    const third = answers.find((a) => a.status !== 200)!;
    expect(third.status).toBe(429);
    expect(third.body.error).toBe('temporarily_unavailable');
    expect(third.body).not.toHaveProperty('access_token');
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('unknown routes', () => {
  it('issue 8 item 12: the 404 body does not echo the request path', async () => {
    const path = '/nope-<script>alert(1)</script>-marker';
    const res = await fetch(`${sb.url}${path}`);
    expect(res.status).toBe(404);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: 'not_found', error_description: 'No such route.' });
    expect(text).not.toContain('marker');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });
});
