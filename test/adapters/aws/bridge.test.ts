/**
 * Issue 3 "Must show", through the sandbox bridge over real HTTP: every refused AWS input with its
 * status, `error` and audited reason, and — where the bridge can decide alone — proof from the STS
 * emulator's call counter that STS was not asked. Also: STS errors and timeouts, a re-presented
 * proof costing no second STS call, and a proof replayed to a bridge with another audience.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/audit/audit.ts';
import { MAX_TOKEN_BYTES, TOKEN_TYPE } from '../../../src/constants.ts';
import type { AwsSandboxPlatform } from '../../../sandbox/platforms/aws.ts';
import { startSandbox, type Sandbox } from '../../../sandbox/sandbox.ts';
import { SANDBOX } from '../../../sandbox/tenant.ts';
import { postToken, type TokenResponse } from '../../support/http.ts';
import {
  buildSigV4Vector,
  buildWebIdentityVector,
  loadVectors,
  type SigV4VectorSpec,
  type VectorEnv,
  type WebIdentityVectorSpec,
} from '../../vectors/aws/build.ts';

/** The sandbox bridge gives STS this long, so the timeout test stays fast. */
const STS_TIMEOUT_MS = 300;

let sb: Sandbox;
let aws: AwsSandboxPlatform;
const audit: AuditEvent[] = [];

beforeAll(async () => {
  sb = await startSandbox({
    port: 0,
    audit: (e) => audit.push(e),
    policy: (p) => ({ ...p, platforms: { ...p.platforms, aws: { ...p.platforms.aws, stsTimeoutMs: STS_TIMEOUT_MS } } }),
  });
  aws = sb.platforms.find((p) => p.name === 'aws') as AwsSandboxPlatform;
});
afterAll(async () => sb?.close());
beforeEach(() => {
  audit.length = 0;
  sb.entra.resetCalls();
});
afterEach(() => aws.emulator.setFault(undefined));

const env = (): VectorEnv => ({
  now: Math.floor(Date.now() / 1000),
  audience: sb.url,
  emulator: aws.emulator,
  host: 'sts.us-east-1.amazonaws.com',
});
const exchange = (token: string, tokenType: string = TOKEN_TYPE.aws4Request, bridge = sb.url) =>
  postToken(bridge, { subject_token: token, subject_token_type: tokenType, resource: SANDBOX.graph });

function expectRefused(res: TokenResponse, status: number, error: string, reason: string, token: string) {
  expect(res.status).toBe(status);
  expect(res.body.error).toBe(error);
  expect(res.body).not.toHaveProperty('access_token');
  expect(res.headers.get('cache-control')).toBe('no-store');
  const text = JSON.stringify(res.body);
  for (const secret of [
    token,
    ...(decodeURIComponent(token).match(/Signature=[0-9a-f]{64}/g) ?? []),
    aws.emulator.credentials.sandbox.sessionToken,
  ])
    expect(text).not.toContain(secret);
  expect(audit.at(-1)).toMatchObject({ reason, platform: 'aws' });
  expect(JSON.stringify(audit.at(-1))).not.toContain(aws.emulator.credentials.sandbox.sessionToken);
  expect(sb.entra.calls).toHaveLength(0);
}

describe('kind 1, signed GetCallerIdentity: every refused input (test/vectors/aws/sigv4)', () => {
  const vectors = loadVectors<SigV4VectorSpec>('sigv4');
  it.each(vectors.map((v) => [v.name, v] as const))(
    '%s → 400 invalid_request, STS asked only when it must be',
    async (_name, v) => {
      const token = await buildSigV4Vector(v, env());
      const before = aws.emulator.count();
      expectRefused(await exchange(token), 400, 'invalid_request', v.expect, token);
      expect(aws.emulator.count() - before).toBe(v.stsCalls);
    },
  );

  it('a proof over the token endpoint cap is refused before any AWS code runs', async () => {
    const token = await buildSigV4Vector(
      {
        description: 'huge',
        expect: 'proof_too_large',
        stsCalls: 0,
        signedHeaders: { 'x-pad': 'p'.repeat(MAX_TOKEN_BYTES) },
      },
      env(),
    );
    const before = aws.emulator.count();
    const res = await exchange(token);
    expect([res.status, res.body.error]).toEqual([400, 'invalid_request']);
    expect(audit.at(-1)!.reason).toBe('proof_too_large');
    expect(aws.emulator.count() - before).toBe(0);
  });

  it('STS answering an error → 400 invalid_request, the STS code in the audit detail only', async () => {
    aws.emulator.setFault({ kind: 'error', status: 403, code: 'AccessDenied', message: 'injected refusal' });
    const token = await buildSigV4Vector(
      { description: 'p', expect: 'proof_rejected_upstream', stsCalls: 1, dateOffsetSec: -20 },
      env(),
    );
    const res = await exchange(token);
    expectRefused(res, 400, 'invalid_request', 'proof_rejected_upstream', token);
    expect(audit.at(-1)!.detail).toContain('403 AccessDenied');
    expect(JSON.stringify(res.body)).not.toContain('AccessDenied');
  });

  it('STS timing out → 503 temporarily_unavailable with Retry-After, within the configured timeout', async () => {
    const delayMs = STS_TIMEOUT_MS + 2000;
    aws.emulator.setFault({ kind: 'delay', ms: delayMs });
    const token = await buildSigV4Vector(
      { description: 'p', expect: 'verifier_unavailable', stsCalls: 1, dateOffsetSec: -21 },
      env(),
    );
    const recordedBefore = aws.emulator.count();
    const started = Date.now();
    const res = await exchange(token);
    expect(Date.now() - started).toBeLessThan(STS_TIMEOUT_MS + 1500);
    expectRefused(res, 503, 'temporarily_unavailable', 'verifier_unavailable', token);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    // The emulator records the abandoned call only when its delay ends: wait for it (bounded), so it
    // is not counted as an STS call of whichever test runs next.
    for (let i = 0; i < 80 && aws.emulator.count() === recordedBefore; i++) await new Promise((r) => setTimeout(r, 50));
    expect(aws.emulator.count() - recordedBefore).toBe(1);
  });
});

describe('kind 1: issue 8 items 5, 8 and 11 over HTTP', () => {
  it('issue 8 item 5: a proof signed for the wrong region → 400 whose error_description names the endpoint to sign for; audit has expected and received', async () => {
    const token = await buildSigV4Vector(
      { description: 'scope', expect: 'proof_signature', stsCalls: 0, region: 'eu-west-1' },
      env(),
    );
    const before = aws.emulator.count();
    const res = await exchange(token);
    expectRefused(res, 400, 'invalid_request', 'proof_signature', token);
    expect(res.body.error_description).toContain('sign for https://sts.us-east-1.amazonaws.com/ with region us-east-1');
    expect(res.body.error_description).toContain('credential scope region eu-west-1');
    expect(audit.at(-1)).toMatchObject({
      fields: {
        host: 'sts.us-east-1.amazonaws.com',
        claim: 'credential_scope_region',
        expected: 'us-east-1',
        received: 'eu-west-1',
      },
    });
    expect(aws.emulator.count() - before).toBe(0);
  });

  it('issue 8 item 11: one signed GetCallerIdentity padded with many different unsigned headers → each refused 400, no STS call', async () => {
    const token = await buildSigV4Vector(
      { description: 'pad', expect: 'proof_malformed', stsCalls: 0, dateOffsetSec: -25 },
      env(),
    );
    const proof = JSON.parse(decodeURIComponent(token)) as { headers: { key: string; value: string }[] };
    const before = aws.emulator.count();
    for (let i = 0; i < 20; i++) {
      const padded = JSON.stringify({ ...proof, headers: [...proof.headers, { key: `x-padding-${i}`, value: 'a' }] });
      const res = await exchange(padded);
      expectRefused(res, 400, 'invalid_request', 'proof_malformed', padded);
      expect(res.body.error_description).toContain(`Header x-padding-${i} is not signed`);
    }
    expect(aws.emulator.count() - before).toBe(0);
  });

  it('issue 8 item 8: STS answering a redirect → 502 verifier_redirected without Retry-After, not 503 "unavailable"', async () => {
    aws.emulator.setFault({ kind: 'redirect', status: 302, location: 'https://example.com/' });
    const token = await buildSigV4Vector(
      { description: 'p', expect: 'verifier_redirected', stsCalls: 1, dateOffsetSec: -26 },
      env(),
    );
    const res = await exchange(token);
    expectRefused(res, 502, 'server_error', 'verifier_redirected', token);
    expect(res.headers.get('retry-after')).toBeNull();
  });
});

describe('kind 1: re-presentation and replay', () => {
  it('re-presenting the same signed proof within its window makes no second STS call', async () => {
    const token = await buildSigV4Vector(
      { description: 'again', expect: 'internal_error', stsCalls: 1, dateOffsetSec: -30 },
      env(),
    );
    const before = aws.emulator.count('GetCallerIdentity');
    const first = await exchange(token);
    expect(first.status).toBe(200);
    expect(first.body.agent_id).toBe(SANDBOX.agentId);
    const again = await exchange(token);
    // The same signed request in the other accepted spelling (bare JSON) is the same proof to the
    // bridge's verified-proof cache, keyed by the rebuilt request.
    const bare = await exchange(decodeURIComponent(token));
    expect([again.status, bare.status]).toEqual([200, 200]);
    expect(aws.emulator.count('GetCallerIdentity') - before).toBe(1);
    expect(audit.at(-1)).toMatchObject({ outcome: 'issued', principal: aws.manifest.roleArn });
  });

  it('a proof replayed to a bridge with another audience is refused, and that bridge never asks STS', async () => {
    const other = await startSandbox({
      port: 0,
      audit: (e) => audit.push(e),
      overrides: { BRIDGE_AUDIENCE: 'https://other-bridge.example' },
    });
    try {
      const otherAws = other.platforms.find((p) => p.name === 'aws') as AwsSandboxPlatform;
      const token = await buildSigV4Vector(
        { description: 'mine', expect: 'internal_error', stsCalls: 1, dateOffsetSec: -31 },
        env(),
      );
      expect((await exchange(token)).status).toBe(200);
      const res = await exchange(token, TOKEN_TYPE.aws4Request, other.url);
      expect([res.status, res.body.error]).toEqual([400, 'invalid_request']);
      expect(audit.at(-1)).toMatchObject({ reason: 'proof_audience' });
      expect(otherAws.emulator.count()).toBe(0);
      // The same credentials, bound to that bridge's audience, are accepted there.
      const theirs = await buildSigV4Vector(
        { description: 'theirs', expect: 'internal_error', stsCalls: 1, audience: 'https://other-bridge.example' },
        { ...env(), emulator: otherAws.emulator },
      );
      expect((await exchange(theirs, TOKEN_TYPE.aws4Request, other.url)).status).toBe(200);
      expect(otherAws.emulator.count('GetCallerIdentity')).toBe(1);
    } finally {
      await other.close();
    }
  });
});

describe('kind 2, GetWebIdentityToken JWT: every refused input (test/vectors/aws/web-identity)', () => {
  const vectors = loadVectors<WebIdentityVectorSpec>('web-identity');
  it.each(vectors.map((v) => [v.name, v] as const))('%s → 400 invalid_request', async (_name, v) => {
    const token = await buildWebIdentityVector(v, env());
    const before = aws.emulator.count();
    const res = await exchange(token, TOKEN_TYPE.jwt);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect(JSON.stringify(res.body)).not.toContain(token.split('.')[1]!);
    // A token no enabled platform trusts is refused while routing, before any AWS code runs.
    expect(audit.at(-1)).toMatchObject({ reason: v.expect, outcome: 'denied' });
    expect(aws.emulator.count() - before).toBe(0);
    expect(sb.entra.calls).toHaveLength(0);
  });
});
