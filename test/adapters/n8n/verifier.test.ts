import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createN8nVerifier,
  jwkThumbprint,
  N8N_MAX_ASSERTION_LIFETIME_SEC,
  type N8nConfig,
} from '../../../adapters/n8n/index.ts';
import type { N8nPublicJwk } from '../../../adapters/n8n/config.ts';
import { TOKEN_TYPE } from '../../../src/constants.ts';
import { createBoundedFetch } from '../../../src/net/bounded-fetch.ts';
import type { AdapterDeps, VerifyContext, VerifyResult, WorkloadVerifier } from '../../../src/verify/contract.ts';
import { buildN8nVector, loadN8nVectors, type VectorEnv, type VectorKey } from '../../vectors/n8n/build.ts';

const NOW = 1_800_000_000;
const ISSUER = 'https://bridge.example.test';
const deps: AdapterDeps = { fetch: createBoundedFetch({ allowInsecureLoopback: true }), clock: () => NOW };
const ctx = (): VerifyContext => ({ now: NOW, audience: ISSUER, issuer: ISSUER });

async function testKey(alg: 'ES256' | 'EdDSA'): Promise<VectorKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = (await exportJWK(publicKey)) as Record<string, string>;
  const publicJwk: Record<string, string> =
    alg === 'ES256' ? { kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y! } : { kty: 'OKP', crv: 'Ed25519', x: jwk.x! };
  return { privateKey: privateKey as CryptoKey, alg, publicJwk, kid: await jwkThumbprint(asJwk(publicJwk)) };
}

const asJwk = (jwk: Record<string, string>) => jwk as unknown as N8nPublicJwk;

let env: VectorEnv;
let config: N8nConfig;
let verifier: WorkloadVerifier;
let jwksServer: Server;
let jwksUrl: string;
let served: { keys: Record<string, string>[] } = { keys: [] };

beforeAll(async () => {
  env = {
    now: NOW,
    issuer: ISSUER,
    instance: 'test-instance',
    other: 'other-instance',
    workflow: 'Wf7kP9qW3e4R5tYu',
    instanceKey: await testKey('ES256'),
    otherKey: await testKey('EdDSA'),
    foreignKey: await testKey('ES256'),
  };
  jwksServer = createServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(served)),
  );
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
  jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
  config = {
    instances: {
      [env.instance]: { keys: [asJwk(env.instanceKey.publicJwk)] },
      [env.other]: { keys: [{ ...asJwk(env.otherKey.publicJwk), kid: env.otherKey.kid }] },
    },
  };
  verifier = createN8nVerifier(config, deps);
});
afterAll(() => new Promise<void>((r) => jwksServer.close(() => r())));

function verify(token: string, v: WorkloadVerifier = verifier, c: VerifyContext = ctx()): Promise<VerifyResult> {
  return v.verify({ token, tokenType: TOKEN_TYPE.jwt }, c);
}

function expectRefused(result: VerifyResult, reason: string, token: string): void {
  expect(result).toMatchObject({ ok: false, reason });
  if (result.ok) return;
  // A refusal must never carry the proof (docs/architecture.md#threat-model).
  for (const segment of token.split('.')) if (segment.length > 16) expect(result.detail).not.toContain(segment);
}

const good = (
  over: Parameters<typeof buildN8nVector>[0] = { description: 'good', expect: 'internal_error' },
  e: VectorEnv = env,
) => buildN8nVector(over, e);

describe('n8n verifier: accepted assertions', () => {
  it('accepts an ES256 assertion and exposes principal, instance and workflow ids, jti and the audit-only context', async () => {
    const result = await verify(await good());
    expect(result).toEqual({
      ok: true,
      value: {
        platform: 'n8n',
        proofKind: 'n8n-assertion',
        issuer: 'n8n:test-instance',
        principal: 'n8n:test-instance:workflow:Wf7kP9qW3e4R5tYu',
        expiresAt: NOW + 60,
        proofId: expect.any(String),
        singleUse: { partition: 'n8n:test-instance', usableUntil: NOW + 60 + 60 },
        attributes: { instance_id: 'test-instance', workflow_id: 'Wf7kP9qW3e4R5tYu' },
        auditContext: {
          n8n_execution_id: '1042',
          n8n_workflow_name: 'Nightly report',
          n8n_node_name: 'Entra Agent Token',
        },
      },
    });
  });

  it('accepts an EdDSA (Ed25519) assertion of the instance that registered that key', async () => {
    const token = await good(
      { description: 'ed25519', expect: 'internal_error' },
      { ...env, instance: env.other, instanceKey: env.otherKey },
    );
    const result = await verify(token);
    expect(result.ok && result.value.principal).toBe('n8n:other-instance:workflow:Wf7kP9qW3e4R5tYu');
  });

  it('accepts the longest lifetime (300 s) and a 60 s clock skew either way', async () => {
    expect(
      (
        await verify(
          await good({ description: '', expect: 'internal_error', lifetimeSec: N8N_MAX_ASSERTION_LIFETIME_SEC }),
        )
      ).ok,
    ).toBe(true);
    expect((await verify(await good({ description: '', expect: 'internal_error', iatOffsetSec: 55 }))).ok).toBe(true);
    expect((await verify(await good({ description: '', expect: 'internal_error', iatOffsetSec: -115 }))).ok).toBe(true);
  });

  it('never lets the n8n claim reach policy: no workflow name among the attributes, and it is optional', async () => {
    const result = await verify(await good({ description: '', expect: 'internal_error', claims: { n8n: null } }));
    expect(result.ok && result.value.attributes).toEqual({
      instance_id: 'test-instance',
      workflow_id: 'Wf7kP9qW3e4R5tYu',
    });
    expect(result.ok && result.value.auditContext).toBeUndefined();
    const long = await verify(
      await good({
        description: '',
        expect: 'internal_error',
        claims: { n8n: { workflow_name: 'x'.repeat(5000), execution_id: 7 } },
      }),
    );
    expect(long.ok && long.value.auditContext).toEqual({ n8n_workflow_name: 'x'.repeat(256) });
  });

  it('is single-use and routes on the registered instance issuers only', async () => {
    const input = { token: '', tokenType: TOKEN_TYPE.jwt };
    expect(verifier.platform).toBe('n8n');
    expect(verifier.singleUse).toBe(true);
    expect(verifier.tokenTypes).toEqual([TOKEN_TYPE.jwt]);
    expect(verifier.accepts(input, 'n8n:test-instance')).toBe(true);
    expect(verifier.accepts(input, 'n8n:other-instance')).toBe(true);
    for (const iss of ['n8n:ghost', 'n8n:test-instance:x', 'test-instance', 'https://accounts.google.com', undefined])
      expect(verifier.accepts(input, iss)).toBe(false);
  });
});

describe('n8n verifier: every jti once', () => {
  it('issue 8 item 3: verifying writes nothing; the workload carries the jti for the exchange to spend once', async () => {
    const c = ctx();
    const token = await good();
    const first = await verify(token, verifier, c);
    const second = await verify(token, verifier, c);
    expect(first.ok && second.ok).toBe(true);
    expect(first.ok && first.value.proofId).toBe(decodeJwt(token).jti);
    expect(first.ok && first.value.singleUse).toEqual({
      partition: 'n8n:test-instance',
      usableUntil: (decodeJwt(token).exp as number) + 60,
    });
    expect(verifier.singleUse).toBe(true);
  });

  it('partitions by instance: the same jti from two instances are two proofs, each counted against its own instance', async () => {
    const jti = 'shared-jti-0001';
    const a = await verify(await good({ description: '', expect: 'internal_error', claims: { jti } }));
    const b = await verify(
      await good(
        { description: '', expect: 'internal_error', claims: { jti } },
        { ...env, instance: env.other, instanceKey: env.otherKey },
      ),
    );
    expect(a.ok && b.ok).toBe(true);
    expect(a.ok && [a.value.issuer, a.value.proofId, a.value.singleUse?.partition]).toEqual([
      'n8n:test-instance',
      jti,
      'n8n:test-instance',
    ]);
    expect(b.ok && [b.value.issuer, b.value.proofId, b.value.singleUse?.partition]).toEqual([
      'n8n:other-instance',
      jti,
      'n8n:other-instance',
    ]);
  });
});

describe('n8n verifier: vectors (test/vectors/n8n, one file per refused condition)', () => {
  const vectors = loadN8nVectors();

  it('has the vectors on disk', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(20);
  });

  it.each(vectors.map((v) => [v.name, v] as const))('%s is refused with its reason', async (_name, vector) => {
    const token = await buildN8nVector(vector, env);
    expectRefused(await verify(token), vector.expect, token);
  });
});

describe('n8n verifier: configuration', () => {
  it('a tighter clockSkewSec refuses what the default 60 s would accept', async () => {
    const strict = createN8nVerifier({ ...config, clockSkewSec: 5 }, deps);
    const future = await good({ description: '', expect: 'internal_error', iatOffsetSec: 30 });
    const shared = ctx();
    expectRefused(await verify(future, strict, shared), 'proof_not_yet_valid', future);
    // Refused by the tighter skew only: the default skew accepts the same assertion.
    expect((await verify(future, createN8nVerifier(config, deps), shared)).ok).toBe(true);
    const expired = await good({ description: '', expect: 'internal_error', iatOffsetSec: -90, lifetimeSec: 60 });
    expectRefused(await verify(expired, strict), 'proof_expired', expired);
    expect(strict.singleUse).toBe(true);
    expect((await verify(await good(), strict)).ok).toBe(true);
  });

  it('a configured kid that is not the thumbprint fails that instance closed', async () => {
    const wrong = createN8nVerifier(
      { instances: { [env.instance]: { keys: [{ ...asJwk(env.instanceKey.publicJwk), kid: 'not-the-thumbprint' }] } } },
      deps,
    );
    const token = await good();
    const result = await verify(token, wrong);
    expectRefused(result, 'verifier_unavailable', token);
    expect(!result.ok && result.detail).toContain('platforms.n8n.instances.test-instance.keys[0].kid');
  });

  it('several keys per instance (rotation): either verifies', async () => {
    const next = await testKey('EdDSA');
    const rotating = createN8nVerifier(
      { instances: { [env.instance]: { keys: [asJwk(env.instanceKey.publicJwk), asJwk(next.publicJwk)] } } },
      deps,
    );
    expect((await verify(await good(), rotating)).ok).toBe(true);
    expect(
      (await verify(await good({ description: '', expect: 'internal_error' }, { ...env, instanceKey: next }), rotating))
        .ok,
    ).toBe(true);
  });
});

describe('n8n verifier: instance registered by JWKS URL', () => {
  it('verifies with a served key whose kid is its thumbprint, and refuses served keys that break the rules', async () => {
    const jwksEnv: VectorEnv = { ...env, instance: 'jwks-instance' };
    const v = createN8nVerifier({ instances: { 'jwks-instance': { jwksUrl } } }, deps);
    const { kid, publicJwk } = env.instanceKey;
    served = { keys: [{ ...publicJwk, kid, alg: 'ES256', use: 'sig' }] };
    expect((await verify(await good({ description: '', expect: 'internal_error' }, jwksEnv), v)).ok).toBe(true);

    // A served key published under a kid that is not its thumbprint is not usable, even if the token names that kid.
    const misnamed = createN8nVerifier({ instances: { 'jwks-instance': { jwksUrl } } }, deps);
    served = { keys: [{ ...publicJwk, kid: 'friendly-name', alg: 'ES256' }] };
    const token = await good({ description: '', expect: 'internal_error', header: { kid: 'friendly-name' } }, jwksEnv);
    expectRefused(await verify(token, misnamed), 'proof_unknown_key', token);
  });

  it('answers verifier_unavailable (retry later) when the JWKS cannot be fetched', async () => {
    const v = createN8nVerifier({ instances: { 'jwks-instance': { jwksUrl: 'http://127.0.0.1:9/jwks.json' } } }, deps);
    const token = await good({ description: '', expect: 'internal_error' }, { ...env, instance: 'jwks-instance' });
    const result = await verify(token, v);
    expectRefused(result, 'verifier_unavailable', token);
    expect(!result.ok && result.retryAfterSec).toBeGreaterThan(0);
  });
});

describe('n8n verifier: an HS256 token signed with the public key as secret never reaches a key', () => {
  it('is refused on alg alone, whatever the key set holds', async () => {
    const secret = new TextEncoder().encode(JSON.stringify(env.instanceKey.publicJwk));
    const token = await new SignJWT({
      iss: 'n8n:test-instance',
      sub: 'n8n:test-instance:workflow:x',
      aud: `${ISSUER}/token`,
      iat: NOW,
      exp: NOW + 60,
      jti: 'j',
    })
      .setProtectedHeader({ alg: 'HS256', kid: env.instanceKey.kid, typ: 'JWT' })
      .sign(secret);
    expectRefused(await verify(token), 'proof_alg_not_allowed', token);
  });
});
