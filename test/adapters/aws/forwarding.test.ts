/**
 * Issue 8 items 8, 11 and 5 for kind-1 AWS proofs, against the STS emulator at a pinned `now`:
 * what reaches STS is exactly what the workload signed; one signed request has one identity,
 * whatever its spelling, and padding it with unsigned headers is refused; a wrong credential-scope
 * region is answered with the endpoint to sign for.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signGetCallerIdentityProof } from '../../../adapters/aws/client.ts';
import { createAwsVerifiers } from '../../../adapters/aws/index.ts';
import { TOKEN_TYPE } from '../../../src/constants.ts';
import type { AwsPlatformConfig } from '../../../adapters/aws/config.ts';
import { createBoundedFetch } from '../../../src/net/bounded-fetch.ts';
import type { AdapterDeps, VerifyContext, WorkloadVerifier } from '../../../src/verify/contract.ts';
import { startStsEmulator, type ReceivedStsRequest, type StsEmulator } from '../../emulators/sts/index.ts';
import { buildSigV4Vector, type VectorEnv } from '../../vectors/aws/build.ts';

const NOW = 1_800_000_000;
const AUDIENCE = 'https://bridge.example.test';
const HOST = 'sts.us-east-1.amazonaws.com';
const ctx: VerifyContext = { now: NOW, audience: AUDIENCE, issuer: AUDIENCE };
const deps: AdapterDeps = { fetch: createBoundedFetch({ allowInsecureLoopback: true }), clock: () => NOW };
const aws4 = (token: string) => ({ token, tokenType: TOKEN_TYPE.aws4Request });

/**
 * Headers the HTTP client adds to every request, none of which the SigV4 query protocol reads
 * (https://fetch.spec.whatwg.org/#http-network-or-cache-fetch): Host and Content-Length frame the
 * request, the others are fetch's defaults. `x-forwarded-host` carries Host to the emulator only
 * (the sandbox's stsEndpointOverride, since fetch cannot set Host).
 */
const HTTP_CLIENT_HEADERS = new Set([
  'host',
  'connection',
  'content-length',
  'accept',
  'accept-encoding',
  'accept-language',
  'sec-fetch-mode',
  'user-agent',
  'x-forwarded-host',
]);

interface SerializedProof {
  url: string;
  method: string;
  headers: { key: string; value: string }[];
  body: string;
}

let sts: StsEmulator;
let env: VectorEnv;
let sigv4: WorkloadVerifier;

beforeAll(async () => {
  sts = await startStsEmulator({ clock: () => NOW });
  env = { now: NOW, audience: AUDIENCE, emulator: sts, host: HOST };
  sigv4 = verifier();
});
afterAll(() => sts.close());
afterEach(() => sts.setFault(undefined));

function verifier(over: Partial<AwsPlatformConfig> = {}): WorkloadVerifier {
  return createAwsVerifiers({ regions: ['us-east-1'], stsEndpointOverride: sts.url, ...over }, deps, {
    allowInsecureLoopback: true,
  })[0]!;
}

const decode = (token: string) => JSON.parse(decodeURIComponent(token)) as SerializedProof;

/** The request STS received equals the signed one: method, path and query, body, every signed header, nothing else of the client's. */
function expectForwardedAsSigned(received: ReceivedStsRequest, proof: SerializedProof): void {
  const sent = new Map(proof.headers.map((h) => [h.key.toLowerCase(), h.value]));
  const got = new Map<string, string>();
  for (const [name, value] of received.headers) {
    expect(got.has(name), `header ${name} reached STS twice`).toBe(false);
    got.set(name, value);
  }
  const url = new URL(proof.url);
  expect(received.method).toBe(proof.method);
  expect(received.target).toBe(`${url.pathname}${url.search}`);
  expect(received.body).toBe(proof.body);
  const signed = /SignedHeaders=([a-z0-9;-]+)/.exec(sent.get('authorization')!)![1]!.split(';');
  for (const name of signed) {
    if (name === 'host') expect(got.get('x-forwarded-host')).toBe(sent.get('host'));
    else expect(got.get(name), `signed header ${name}`).toBe(sent.get(name));
  }
  expect(got.get('authorization')).toBe(sent.get('authorization'));
  if (sent.has('x-amz-security-token')) expect(got.get('x-amz-security-token')).toBe(sent.get('x-amz-security-token'));
  const extra = [...got.keys()].filter(
    (name) => !signed.includes(name) && name !== 'authorization' && name !== 'x-amz-security-token',
  );
  expect(extra.filter((name) => !HTTP_CLIENT_HEADERS.has(name))).toEqual([]);
  // What the client adds is framing and defaults, never a value of the bridge's choosing.
  expect(got.get('content-length') ?? '0').toBe(String(new TextEncoder().encode(proof.body).byteLength));
  if (!signed.includes('accept')) expect(got.get('accept') ?? '*/*').toBe('*/*');
}

describe('issue 8 item 8: the proof is forwarded exactly as signed', () => {
  it('issue 8 item 8: a query-form proof signed by the client helper (AWS SDK signer) reaches STS as signed: no body, no Content-Type, no Accept of the bridge', async () => {
    const token = await signGetCallerIdentityProof({
      credentials: sts.credentials.sandbox,
      audience: AUDIENCE,
      region: 'us-east-1',
      signingDate: new Date(NOW * 1000),
    });
    sts.resetCalls();
    expect((await sigv4.verify(aws4(token), ctx)).ok).toBe(true);
    expect(sts.requests).toHaveLength(1);
    const received = sts.requests[0]!;
    expect(received.headers.some(([name]) => name === 'content-type')).toBe(false);
    expectForwardedAsSigned(received, decode(token));
  });

  it('issue 8 item 8: a form-body proof (as the AWS SDK sends it) reaches STS with its signed Content-Type and body byte for byte', async () => {
    const token = await buildSigV4Vector(
      {
        description: 'body',
        expect: 'internal_error',
        stsCalls: 1,
        query: '',
        body: 'Action=GetCallerIdentity&Version=2011-06-15',
        dateOffsetSec: -1,
      },
      env,
    );
    sts.resetCalls();
    expect((await sigv4.verify(aws4(token), ctx)).ok).toBe(true);
    expect(sts.requests).toHaveLength(1);
    expectForwardedAsSigned(sts.requests[0]!, decode(token));
  });

  it('issue 8 item 8: a redirect from STS is refused as verifier_redirected, not as STS unavailable', async () => {
    sts.setFault({ kind: 'redirect', status: 307, location: 'https://sts.eu-west-1.amazonaws.com/' });
    const token = await buildSigV4Vector(
      { description: 'p', expect: 'verifier_redirected', stsCalls: 1, dateOffsetSec: -2 },
      env,
    );
    const before = sts.count();
    const result = await sigv4.verify(aws4(token), ctx);
    expect(result).toMatchObject({ ok: false, reason: 'verifier_redirected', fields: { host: HOST } });
    expect(!result.ok && result.retryAfterSec).toBeUndefined();
    expect(sts.count() - before).toBe(1);
  });
});

describe('issue 8 item 11: one signed request, one identity', () => {
  it('issue 8 item 11: spellings of one signed request share one canonical key (bare or URL-encoded JSON, header order and case, an unsigned User-Agent)', async () => {
    const token = await buildSigV4Vector(
      { description: 'p', expect: 'internal_error', stsCalls: 1, dateOffsetSec: -3 },
      env,
    );
    const proof = decode(token);
    const spellings = [
      token,
      JSON.stringify(proof),
      JSON.stringify({ ...proof, headers: [...proof.headers].reverse() }),
      JSON.stringify({ ...proof, headers: proof.headers.map((h) => ({ key: h.key.toUpperCase(), value: h.value })) }),
      encodeURIComponent(
        JSON.stringify({
          body: proof.body,
          headers: [...proof.headers, { key: 'User-Agent', value: 'another-client/1.0' }],
          method: proof.method,
          url: proof.url,
        }),
      ),
    ];
    const keys = spellings.map((t) => sigv4.canonicalKey?.(aws4(t)));
    expect(keys[0]).toMatchObject({ ok: true, value: expect.stringMatching(/^[0-9a-f]{64}$/) });
    for (const key of keys) expect(key).toEqual(keys[0]);
    // A different signed request (another date, so another signature) is another identity.
    const other = await buildSigV4Vector(
      { description: 'q', expect: 'internal_error', stsCalls: 1, dateOffsetSec: -4 },
      env,
    );
    expect(sigv4.canonicalKey?.(aws4(other))).not.toEqual(keys[0]);
  });

  it('issue 8 item 11: padding one signed request with many different unsigned headers is refused without an STS call, before any cache', async () => {
    const token = await buildSigV4Vector(
      { description: 'p', expect: 'internal_error', stsCalls: 1, dateOffsetSec: -5 },
      env,
    );
    const proof = decode(token);
    const before = sts.count();
    for (let i = 0; i < 50; i++) {
      const padded = JSON.stringify({ ...proof, headers: [...proof.headers, { key: `x-padding-${i}`, value: 'a' }] });
      expect(sigv4.canonicalKey?.(aws4(padded))).toMatchObject({
        ok: false,
        reason: 'proof_malformed',
        fields: { header: `x-padding-${i}` },
      });
      expect(await sigv4.verify(aws4(padded), ctx)).toMatchObject({ ok: false, reason: 'proof_malformed' });
    }
    expect(sts.count() - before).toBe(0);
  });
});

describe('issue 8 item 5: a wrong credential-scope region is answered with the endpoint to sign for', () => {
  it('issue 8 item 5: signed for us-east-1 with an eu-west-1 scope → publicDetail names the regional endpoint, fields carry expected and received', async () => {
    const both = verifier({ regions: ['us-east-1', 'eu-west-1'] });
    const token = await buildSigV4Vector(
      { description: 'scope', expect: 'proof_signature', stsCalls: 0, region: 'eu-west-1' },
      env,
    );
    const result = await both.verify(aws4(token), ctx);
    expect(result).toMatchObject({
      ok: false,
      reason: 'proof_signature',
      fields: { host: HOST, claim: 'credential_scope_region', expected: 'us-east-1', received: 'eu-west-1' },
      publicDetail: expect.stringContaining('sign for https://sts.eu-west-1.amazonaws.com/ instead'),
    });
  });

  it('issue 8 item 5: a scope region with no configured endpoint → publicDetail names the endpoint of the host and the accepted endpoints', async () => {
    const token = await buildSigV4Vector(
      { description: 'scope', expect: 'proof_signature', stsCalls: 0, region: 'ap-south-1' },
      env,
    );
    const result = await sigv4.verify(aws4(token), ctx);
    expect(result).toMatchObject({
      ok: false,
      reason: 'proof_signature',
      fields: { expected: 'us-east-1', received: 'ap-south-1' },
    });
    const text = !result.ok ? result.publicDetail : '';
    expect(text).toContain(`sign for https://${HOST}/ with region us-east-1`);
    expect(text).toContain(
      'accepted STS endpoints: https://sts.amazonaws.com/ (us-east-1), https://sts.us-east-1.amazonaws.com/ (us-east-1)',
    );
  });

  it('issue 8 item 5: STS refusing the scope region (its SignatureDoesNotMatch) → publicDetail names the endpoint to sign for', async () => {
    sts.setFault({
      kind: 'error',
      status: 403,
      code: 'SignatureDoesNotMatch',
      message: "Credential should be scoped to a valid region, not 'eu-west-1'. ",
    });
    const token = await buildSigV4Vector(
      { description: 'p', expect: 'proof_signature', stsCalls: 1, dateOffsetSec: -6 },
      env,
    );
    const result = await sigv4.verify(aws4(token), ctx);
    expect(result).toMatchObject({
      ok: false,
      reason: 'proof_signature',
      fields: { host: HOST, expected: 'us-east-1', received: 'eu-west-1' },
      publicDetail: expect.stringContaining(`sign for https://${HOST}/ with region us-east-1`),
    });
  });
});
