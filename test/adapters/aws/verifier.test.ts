/**
 * The AWS verifiers against the STS emulator at a pinned `now`: what they accept, every vector in
 * test/vectors/aws with its reason and the STS calls it may cost, the verification cache, STS
 * failures, and the web identity issuer's discovery and keys.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAwsVerifiers } from '../../../adapters/aws/index.ts';
import { signGetCallerIdentityProof } from '../../../adapters/aws/client.ts';
import { TOKEN_TYPE } from '../../../src/constants.ts';
import type { AwsPlatformConfig } from '../../../adapters/aws/config.ts';
import { createBoundedFetch } from '../../../src/net/bounded-fetch.ts';
import type { AdapterDeps, VerifyContext, VerifyResult, WorkloadVerifier } from '../../../src/verify/contract.ts';
import { SANDBOX_ACCOUNT, SANDBOX_ROLE_ARN, startStsEmulator, type StsEmulator } from '../../emulators/sts/index.ts';
import {
  buildSigV4Vector,
  buildWebIdentityVector,
  loadVectors,
  type SigV4VectorSpec,
  type VectorEnv,
  type WebIdentityVectorSpec,
} from '../../vectors/aws/build.ts';

const NOW = 1_800_000_000;
const AUDIENCE = 'https://bridge.example.test';
const HOST = 'sts.us-east-1.amazonaws.com';
const ctx: VerifyContext = { now: NOW, audience: AUDIENCE, issuer: AUDIENCE };
const deps: AdapterDeps = { fetch: createBoundedFetch({ allowInsecureLoopback: true }), clock: () => NOW };

let sts: StsEmulator;
let env: VectorEnv;

beforeAll(async () => {
  sts = await startStsEmulator({ clock: () => NOW });
  env = { now: NOW, audience: AUDIENCE, emulator: sts, host: HOST };
});
afterAll(() => sts.close());
afterEach(() => sts.setFault(undefined));

function config(over: Partial<AwsPlatformConfig> = {}): AwsPlatformConfig {
  return {
    regions: ['us-east-1'],
    stsEndpointOverride: sts.url,
    webIdentityIssuers: [{ account: SANDBOX_ACCOUNT, issuer: sts.issuerOf(SANDBOX_ACCOUNT) }],
    ...over,
  };
}
function verifiers(over: Partial<AwsPlatformConfig> = {}): { sigv4: WorkloadVerifier; web: WorkloadVerifier } {
  const [sigv4, web] = createAwsVerifiers(config(over), deps, { allowInsecureLoopback: true });
  return { sigv4: sigv4!, web: web! };
}
const aws4 = (token: string) => ({ token, tokenType: TOKEN_TYPE.aws4Request });
const jwt = (token: string) => ({ token, tokenType: TOKEN_TYPE.jwt });

/** A refusal must never carry the proof, a signature, a session token or a secret (docs/architecture.md#threat-model). */
function expectRefused(result: VerifyResult, reason: string, token: string): void {
  expect(result).toMatchObject({ ok: false, reason });
  if (result.ok) return;
  const decoded = safeDecode(token);
  for (const secret of [token, ...(decoded.match(/Signature=[0-9a-f]{64}/g) ?? [])])
    expect(result.detail).not.toContain(secret);
  for (const c of Object.values(sts.credentials)) {
    expect(result.detail).not.toContain(c.secretAccessKey);
    if ('sessionToken' in c && c.sessionToken) expect(result.detail).not.toContain(c.sessionToken);
  }
  for (const segment of token.split('.')) if (segment.length > 16) expect(result.detail).not.toContain(segment);
}
function safeDecode(t: string): string {
  try {
    return decodeURIComponent(t);
  } catch {
    return t;
  }
}

describe('signed GetCallerIdentity (kind 1): accepted proofs', () => {
  it("accepts Google's format signed by the sandbox role and normalises the assumed-role ARN", async () => {
    const { sigv4 } = verifiers();
    const before = sts.count('GetCallerIdentity');
    const result = await sigv4.verify(
      aws4(await buildSigV4Vector({ description: 'good', expect: 'internal_error', stsCalls: 1 }, env)),
      ctx,
    );
    expect(result).toMatchObject({
      ok: true,
      value: {
        platform: 'aws',
        proofKind: 'aws-sigv4-gci',
        issuer: `https://${HOST}`,
        principal: SANDBOX_ROLE_ARN,
        expiresAt: NOW + 900,
        attributes: {
          account: SANDBOX_ACCOUNT,
          partition: 'aws',
          principal_type: 'role',
          role_name: 'agent-id-bridge-sandbox-agent',
          session_name: 'bedrock-action-group',
          unique_id: 'AROAEMULATEDSANDBOX01',
        },
        auditContext: { arn: sts.credentials.sandbox.arn, sts_host: HOST, sts_call: 'made' },
      },
    });
    expect(result.ok && result.value.principal).not.toContain('bedrock-action-group');
    expect(sts.count('GetCallerIdentity') - before).toBe(1);
    expect(sts.calls.at(-1)).toEqual({ action: 'GetCallerIdentity', host: HOST, status: 200 });
  });

  it('accepts the action as a form body (as the AWS SDK sends it), and the bare JSON without URL encoding', async () => {
    const { sigv4 } = verifiers();
    const body = await buildSigV4Vector(
      {
        description: 'body',
        expect: 'internal_error',
        stsCalls: 1,
        query: '',
        body: 'Action=GetCallerIdentity&Version=2011-06-15',
      },
      env,
    );
    expect((await sigv4.verify(aws4(body), ctx)).ok).toBe(true);
    const bare = decodeURIComponent(
      await buildSigV4Vector({ description: 'bare', expect: 'internal_error', stsCalls: 1, dateOffsetSec: -1 }, env),
    );
    expect((await sigv4.verify(aws4(bare), ctx)).ok).toBe(true);
  });

  it('accepts the global endpoint signed for us-east-1, and a signed Accept asking for XML', async () => {
    const { sigv4 } = verifiers();
    const global = await sigv4.verify(
      aws4(
        await buildSigV4Vector(
          { description: 'global', expect: 'internal_error', stsCalls: 1, host: 'sts.amazonaws.com' },
          env,
        ),
      ),
      ctx,
    );
    expect(global).toMatchObject({
      ok: true,
      value: { issuer: 'https://sts.amazonaws.com', principal: SANDBOX_ROLE_ARN },
    });
    const xml = await sigv4.verify(
      aws4(
        await buildSigV4Vector(
          { description: 'xml', expect: 'internal_error', stsCalls: 1, signedHeaders: { accept: 'text/xml' } },
          env,
        ),
      ),
      ctx,
    );
    expect(xml).toMatchObject({ ok: true, value: { principal: SANDBOX_ROLE_ARN } });
  });

  it('names a role with a path without its path (assumed-role ARNs carry none), and an IAM user by its ARN', async () => {
    const { sigv4 } = verifiers();
    const role = await sigv4.verify(
      aws4(
        await buildSigV4Vector(
          { description: 'path', expect: 'internal_error', stsCalls: 1, credential: 'pathRole' },
          env,
        ),
      ),
      ctx,
    );
    expect(role).toMatchObject({
      ok: true,
      value: {
        principal: `arn:aws:iam::${SANDBOX_ACCOUNT}:role/reporting`,
        attributes: { role_name: 'reporting', session_name: 'i-0abc123def4567890' },
      },
    });
    expect(role.ok && 'role_path' in role.value.attributes).toBe(false);
    const user = await sigv4.verify(
      aws4(
        await buildSigV4Vector({ description: 'user', expect: 'internal_error', stsCalls: 1, credential: 'user' }, env),
      ),
      ctx,
    );
    expect(user).toMatchObject({
      ok: true,
      value: {
        principal: `arn:aws:iam::${SANDBOX_ACCOUNT}:user/ci/deployer`,
        attributes: {
          principal_type: 'user',
          user_name: 'deployer',
          user_path: '/ci/',
          unique_id: 'AIDAEMULATEDUSER00001',
        },
      },
    });
  });

  it('accepts what the client helper signs (the SDK signer, query form, content-sha header)', async () => {
    const { sigv4 } = verifiers();
    const token = await signGetCallerIdentityProof({
      credentials: sts.credentials.sandbox,
      audience: AUDIENCE,
      region: 'us-east-1',
      signingDate: new Date(NOW * 1000),
    });
    expect((await sigv4.verify(aws4(token), ctx)).ok).toBe(true);
  });
});

describe('signed GetCallerIdentity (kind 1): vectors (test/vectors/aws/sigv4, one file per broken condition)', () => {
  const vectors = loadVectors<SigV4VectorSpec>('sigv4');

  it('has the vectors on disk', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(45);
  });

  it.each(vectors.map((v) => [v.name, v] as const))(
    '%s is refused with its reason, at the STS cost it states',
    async (_name, vector) => {
      const { sigv4 } = verifiers();
      const token = await buildSigV4Vector(vector, env);
      const before = sts.count();
      expectRefused(await sigv4.verify(aws4(token), ctx), vector.expect, token);
      expect(sts.count() - before).toBe(vector.stsCalls);
    },
  );
});

describe('signed GetCallerIdentity (kind 1): verification cache', () => {
  it('re-presenting the same signed proof within its window makes no second STS call', async () => {
    const { sigv4 } = verifiers();
    const token = await buildSigV4Vector(
      { description: 'again', expect: 'internal_error', stsCalls: 1, dateOffsetSec: -5 },
      env,
    );
    const before = sts.count('GetCallerIdentity');
    const first = await sigv4.verify(aws4(token), ctx);
    const second = await sigv4.verify(aws4(token), { ...ctx, now: NOW + 600 });
    expect(second).toMatchObject({
      ok: true,
      value: { principal: SANDBOX_ROLE_ARN, auditContext: { sts_call: 'cached' } },
    });
    expect(first.ok && second.ok && first.value.attributes).toEqual(second.ok && second.value.attributes);
    // The same request serialized differently (bare JSON, an unsigned extra header) is the same request to STS.
    const variant = JSON.parse(decodeURIComponent(token)) as { headers: { key: string; value: string }[] };
    variant.headers.push({ key: 'user-agent', value: 'another-client/1.0' });
    expect((await sigv4.verify(aws4(JSON.stringify(variant)), ctx)).ok).toBe(true);
    expect(sts.count('GetCallerIdentity') - before).toBe(1);
    // Past x-amz-date + 15 min the proof is stale, cached or not, and STS is not asked.
    expectRefused(await sigv4.verify(aws4(token), { ...ctx, now: NOW + 900 }), 'proof_expired', token);
    expect(sts.count('GetCallerIdentity') - before).toBe(1);
  });

  it('a proof replayed to a bridge with another audience is refused, without an STS call', async () => {
    const { sigv4 } = verifiers();
    const token = await buildSigV4Vector(
      { description: 'other', expect: 'internal_error', stsCalls: 1, dateOffsetSec: -6 },
      env,
    );
    expect((await sigv4.verify(aws4(token), ctx)).ok).toBe(true);
    const before = sts.count();
    expectRefused(
      await sigv4.verify(aws4(token), { ...ctx, audience: 'https://other-bridge.example' }),
      'proof_audience',
      token,
    );
    expect(sts.count() - before).toBe(0);
  });

  it('concurrent identical proofs share one STS call', async () => {
    const { sigv4 } = verifiers();
    sts.setFault({ kind: 'delay', ms: 150 });
    const token = await buildSigV4Vector(
      { description: 'burst', expect: 'internal_error', stsCalls: 1, dateOffsetSec: -7 },
      env,
    );
    const before = sts.count('GetCallerIdentity');
    const results = await Promise.all(Array.from({ length: 8 }, () => sigv4.verify(aws4(token), ctx)));
    expect(results.every((r) => r.ok && r.value.principal === SANDBOX_ROLE_ARN)).toBe(true);
    expect(sts.count('GetCallerIdentity') - before).toBe(1);
  });

  it('never caches a refusal: the same proof asks STS again', async () => {
    const { sigv4 } = verifiers();
    const token = await buildSigV4Vector(
      {
        description: 'bad',
        expect: 'proof_signature',
        stsCalls: 1,
        secretAccessKey: 'Wrong/Secret/000000000000000000000000000',
        dateOffsetSec: -8,
      },
      env,
    );
    const before = sts.count();
    expectRefused(await sigv4.verify(aws4(token), ctx), 'proof_signature', token);
    expectRefused(await sigv4.verify(aws4(token), ctx), 'proof_signature', token);
    expect(sts.count() - before).toBe(2);
  });
});

describe('signed GetCallerIdentity (kind 1): STS answers and failures', () => {
  const proof = (offset: number) =>
    buildSigV4Vector({ description: 'p', expect: 'internal_error', stsCalls: 1, dateOffsetSec: offset }, env);

  it('maps the region-scope SignatureDoesNotMatch to a description naming the endpoint to sign for', async () => {
    const { sigv4 } = verifiers();
    sts.setFault({
      kind: 'error',
      status: 403,
      code: 'SignatureDoesNotMatch',
      message: "Credential should be scoped to a valid region, not 'eu-west-1'. ",
    });
    const token = await proof(-10);
    const result = await sigv4.verify(aws4(token), ctx);
    expectRefused(result, 'proof_signature', token);
    expect(!result.ok && result.detail).toMatch(
      /sign for https:\/\/sts\.us-east-1\.amazonaws\.com\/ with region us-east-1, or, to keep region eu-west-1, sign for its regional endpoint/,
    );
  });

  it('refuses region-scope mismatches itself, telling which endpoint to sign for', async () => {
    const { sigv4 } = verifiers({ regions: ['us-east-1', 'eu-west-1'] });
    const token = await buildSigV4Vector(
      { description: 'scope', expect: 'proof_signature', stsCalls: 0, region: 'eu-west-1' },
      env,
    );
    const result = await sigv4.verify(aws4(token), ctx);
    expectRefused(result, 'proof_signature', token);
    expect(!result.ok && result.detail).toContain(
      'sign for https://sts.eu-west-1.amazonaws.com/ (credential scope eu-west-1)',
    );
  });

  it.each([
    [403, 'AccessDenied', 'proof_rejected_upstream'],
    [403, 'InvalidClientTokenId', 'proof_rejected_upstream'],
    [403, 'ExpiredToken', 'proof_expired'],
    [400, 'Throttling', 'verifier_unavailable'],
    [500, 'InternalFailure', 'verifier_unavailable'],
    [503, 'ServiceUnavailable', 'verifier_unavailable'],
    [400, 'SomethingNew', 'proof_rejected_upstream'],
  ] as const)('maps an STS %i %s answer to %s', async (status, code, reason) => {
    const { sigv4 } = verifiers();
    sts.setFault({ kind: 'error', status, code, message: 'injected' });
    const token = await proof(-11);
    const result = await sigv4.verify(aws4(token), ctx);
    expectRefused(result, reason, token);
    expect(!result.ok && result.detail).toContain(code);
    if (reason === 'verifier_unavailable') expect(!result.ok && result.retryAfterSec).toBeGreaterThan(0);
  });

  it('answers verifier_unavailable when STS times out, drops the connection, or cannot be reached', async () => {
    const { sigv4 } = verifiers({ stsTimeoutMs: 150 });
    sts.setFault({ kind: 'delay', ms: 1000 });
    const slow = await proof(-12);
    const started = Date.now();
    expectRefused(await sigv4.verify(aws4(slow), ctx), 'verifier_unavailable', slow);
    expect(Date.now() - started).toBeLessThan(900);
    sts.setFault({ kind: 'drop' });
    const dropped = await proof(-13);
    expectRefused(await sigv4.verify(aws4(dropped), ctx), 'verifier_unavailable', dropped);
    sts.setFault(undefined);
    const closed = await startStsEmulator({ clock: () => NOW });
    await closed.close();
    const unreachable = verifiers({ stsEndpointOverride: closed.url }).sigv4;
    const result = await unreachable.verify(aws4(await proof(-14)), ctx);
    expect(result).toMatchObject({ ok: false, reason: 'verifier_unavailable', retryAfterSec: expect.any(Number) });
  });
});

describe('GetWebIdentityToken JWT (kind 2)', () => {
  it('accepts RS256 and ES384 tokens of the configured issuer, with the AWS claims as attributes', async () => {
    const { web } = verifiers();
    for (const alg of ['RS256', 'ES384'] as const) {
      const token = await sts.mintWebIdentityToken({ audiences: [AUDIENCE], alg });
      expect(await web.verify(jwt(token), ctx)).toMatchObject({
        ok: true,
        value: {
          platform: 'aws',
          proofKind: 'aws-web-identity-jwt',
          issuer: sts.issuerOf(SANDBOX_ACCOUNT),
          principal: SANDBOX_ROLE_ARN,
          expiresAt: NOW + 300,
          attributes: {
            account: SANDBOX_ACCOUNT,
            partition: 'aws',
            principal_type: 'role',
            role_name: 'agent-id-bridge-sandbox-agent',
            role_path: '/',
            org_id: 'o-emulated01',
            source_region: 'us-east-1',
            'tag:team': 'agents',
            'tag:environment': 'sandbox',
          },
        },
      });
    }
  });

  it('names a role with a path like kind 1 does (path as role_path), and keeps request tags out of attributes (uncertain: whether AWS keeps the path in sub; the principal is the same either way)', async () => {
    const { web } = verifiers();
    const token = await sts.mintWebIdentityToken({
      credential: sts.credentials.pathRole,
      audiences: [AUDIENCE],
      requestTags: { 'job-id': 'j-1' },
    });
    const result = await web.verify(jwt(token), ctx);
    expect(result).toMatchObject({
      ok: true,
      value: {
        principal: `arn:aws:iam::${SANDBOX_ACCOUNT}:role/reporting`,
        attributes: { role_path: '/service-role/agents/' },
      },
    });
    expect(result.ok && Object.keys(result.value.attributes).some((k) => k.includes('job'))).toBe(false);
    expect(result.ok && result.value.auditContext?.request_tags).toBe('{"job-id":"j-1"}');
  });

  it('issue 8 item 2: accepts exactly one audience; a token also issued for another party is refused (proof_audience_multiple)', async () => {
    const { web } = verifiers();
    expect((await web.verify(jwt(await sts.mintWebIdentityToken({ audiences: [AUDIENCE] })), ctx)).ok).toBe(true);
    const twoParties = await web.verify(
      jwt(await sts.mintWebIdentityToken({ audiences: ['https://other.example', AUDIENCE] })),
      ctx,
    );
    expect(twoParties).toMatchObject({
      ok: false,
      reason: 'proof_audience_multiple',
      fields: { claim: 'aud', expected: AUDIENCE },
    });
  });

  it('routes on the unverified issuer: configured issuers only', async () => {
    const { web } = verifiers();
    expect(web.tokenTypes).toEqual([TOKEN_TYPE.jwt, TOKEN_TYPE.idToken]);
    expect(web.accepts(jwt(''), sts.issuerOf(SANDBOX_ACCOUNT))).toBe(true);
    for (const iss of [
      sts.issuerOf('444455556666'),
      `${sts.issuerOf(SANDBOX_ACCOUNT)}/`,
      'https://accounts.google.com',
      undefined,
    ])
      expect(web.accepts(jwt(''), iss)).toBe(false);
  });

  const vectors = loadVectors<WebIdentityVectorSpec>('web-identity');
  it.each(vectors.map((v) => [v.name, v] as const))('vector %s is refused with its reason', async (_name, vector) => {
    const { web } = verifiers();
    const token = await buildWebIdentityVector(vector, env);
    expectRefused(await web.verify(jwt(token), ctx), vector.expect, token);
  });
});

describe('GetWebIdentityToken JWT (kind 2): discovery and keys', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('discovers the JWKS once, and refetches on an unknown kid at most once per cooldown', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2027-01-01T00:00:00Z'));
    const own = await startStsEmulator({ clock: () => NOW });
    try {
      const issuer = own.issuer(SANDBOX_ACCOUNT);
      const [, web] = createAwsVerifiers(
        { webIdentityIssuers: [{ account: SANDBOX_ACCOUNT, issuer: issuer.issuer }] },
        deps,
        { allowInsecureLoopback: true },
      );
      const good = await own.mintWebIdentityToken({ audiences: [AUDIENCE] });
      const unknownKid = await own.mintWebIdentityToken({ audiences: [AUDIENCE], header: { kid: 'f'.repeat(32) } });
      expect((await web!.verify(jwt(good), ctx)).ok).toBe(true);
      expect((await web!.verify(jwt(good), ctx)).ok).toBe(true);
      expect([issuer.discoveryHits, issuer.jwksHits]).toEqual([1, 1]);
      expect(await web!.verify(jwt(unknownKid), ctx)).toMatchObject({ ok: false, reason: 'proof_unknown_key' });
      expect(issuer.jwksHits).toBe(1);
      vi.advanceTimersByTime(31_000);
      expect(await web!.verify(jwt(unknownKid), ctx)).toMatchObject({ ok: false, reason: 'proof_unknown_key' });
      expect(await web!.verify(jwt(unknownKid), ctx)).toMatchObject({ ok: false, reason: 'proof_unknown_key' });
      expect(issuer.jwksHits).toBe(2);
      // A rotated key is found by the next refetch the cooldown allows.
      await issuer.rotate('RS256');
      const rotated = await own.mintWebIdentityToken({ audiences: [AUDIENCE] });
      vi.advanceTimersByTime(31_000);
      expect((await web!.verify(jwt(rotated), ctx)).ok).toBe(true);
      expect([issuer.discoveryHits, issuer.jwksHits]).toEqual([1, 3]);
    } finally {
      await own.close();
    }
  });

  it.each([
    ['names another issuer', { issuer: 'https://evil.tokens.sts.global.api.aws' }],
    ['points jwks_uri to another origin', { jwks_uri: 'http://127.0.0.2:9/.well-known/jwks.json' }],
    ['has no jwks_uri', { jwks_uri: undefined }],
  ])('answers verifier_unavailable when discovery %s', async (_what, override) => {
    const own = await startStsEmulator({ clock: () => NOW });
    try {
      own.issuer(SANDBOX_ACCOUNT).discoveryOverride = override;
      const [, web] = createAwsVerifiers(
        { webIdentityIssuers: [{ account: SANDBOX_ACCOUNT, issuer: own.issuerOf(SANDBOX_ACCOUNT) }] },
        deps,
        { allowInsecureLoopback: true },
      );
      const result = await web!.verify(jwt(await own.mintWebIdentityToken({ audiences: [AUDIENCE] })), ctx);
      expect(result).toMatchObject({
        ok: false,
        reason: 'verifier_unavailable',
        detail: expect.stringContaining('discovery'),
      });
      expect(own.issuer(SANDBOX_ACCOUNT).jwksHits).toBe(0);
    } finally {
      await own.close();
    }
  });

  it('answers verifier_unavailable when the issuer cannot be reached, and retries only after a cooldown', async () => {
    const own = await startStsEmulator({ clock: () => NOW });
    const token = await own.mintWebIdentityToken({ audiences: [AUDIENCE] });
    const issuer = own.issuerOf(SANDBOX_ACCOUNT);
    await own.close();
    const [, web] = createAwsVerifiers({ webIdentityIssuers: [{ account: SANDBOX_ACCOUNT, issuer }] }, deps, {
      allowInsecureLoopback: true,
    });
    expect(await web!.verify(jwt(token), ctx)).toMatchObject({
      ok: false,
      reason: 'verifier_unavailable',
      retryAfterSec: expect.any(Number),
    });
    expect(await web!.verify(jwt(token), ctx)).toMatchObject({
      ok: false,
      reason: 'verifier_unavailable',
      detail: expect.stringContaining('cooldown'),
    });
  });
});
