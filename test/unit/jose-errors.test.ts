/**
 * Issue 8 item 1: every jose error class is mapped on purpose (src/verify/jose-errors.ts). Driven
 * through the shared JWT verifier with a local key set, and, for classes jwtVerify can only raise
 * from a key resolver, with resolvers that throw them. Only the issuer's key set or the network
 * may yield verifier_unavailable; everything the token causes is a 400 reason of its own.
 */
import {
  createLocalJWKSet,
  errors,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTVerifyGetKey,
} from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { toWire } from '../../src/errors.ts';
import { UpstreamError } from '../../src/net/bounded-fetch.ts';
import { accept, type VerifyContext, type VerifyResult } from '../../src/verify/contract.ts';
import { KeySetFailure, refusalFromJoseError, type JoseErrorContext } from '../../src/verify/jose-errors.ts';
import { createJwtProofVerifier } from '../../src/verify/jwt.ts';

const NOW = 1_800_000_000;
const ISSUER = 'https://issuer.example';
const AUDIENCE = 'https://bridge.example';
const ctx: VerifyContext = { now: NOW, audience: AUDIENCE, issuer: AUDIENCE };

let key: CryptoKey;
let jwks: JWTVerifyGetKey;
let jwk: JWK;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  key = pair.privateKey;
  jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' };
  jwks = createLocalJWKSet({ keys: [jwk] });
});

function verifierWith(keysFor: () => JWTVerifyGetKey, extra: { typ?: string } = {}) {
  return createJwtProofVerifier({
    platform: 'gcp',
    proofKind: 'test',
    tokenTypes: ['urn:ietf:params:oauth:token-type:jwt'],
    issuers: [ISSUER],
    keysFor,
    algorithms: ['ES256'],
    maxLifetimeSec: 3600,
    requiredClaims: ['sub'],
    ...extra,
    toWorkload: (p) => accept({ principal: String(p.sub), attributes: {} }),
  });
}

async function sign(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'w1', iat: NOW, exp: NOW + 600, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', ...header })
    .sign(key);
}

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** The token with header members added after signing: jose refuses to sign a crit it does not know. */
async function withHeader(extra: Record<string, unknown>): Promise<string> {
  const [, p, s] = (await sign()).split('.');
  return `${b64({ alg: 'ES256', kid: 'k1', ...extra })}.${p}.${s}`;
}

function verify(
  token: string,
  keysFor: () => JWTVerifyGetKey = () => jwks,
  extra: { typ?: string } = {},
): Promise<VerifyResult> {
  return verifierWith(keysFor, extra).verify({ token, tokenType: 'urn:ietf:params:oauth:token-type:jwt' }, ctx);
}

function reasonOf(r: VerifyResult): string {
  return r.ok ? 'accepted' : r.reason;
}

describe('issue 8 item 1: jose errors raised by the token are 400 with their own reason', () => {
  it('the baseline token is accepted', async () => {
    expect(reasonOf(await verify(await sign()))).toBe('accepted');
  });

  it('issue 8 item 1: JOSENotSupported (crit naming an unknown extension) is proof_header_unsupported, not verifier_unavailable', async () => {
    const r = await verify(await withHeader({ crit: ['urn:x'], 'urn:x': 1 }));
    expect(reasonOf(r)).toBe('proof_header_unsupported');
    expect(toWire('proof_header_unsupported').status).toBe(400);
  });

  const cases: [string, () => Promise<string>, string][] = [
    [
      'JWSInvalid: header segment is not JSON',
      async () => {
        const [, p, s] = (await sign()).split('.');
        return `${b64('{"alg":"ES256",')}.${p}.${s}`;
      },
      'proof_malformed',
    ],
    ['JWSInvalid: crit is not an array', () => withHeader({ crit: 'b64' }), 'proof_header_unsupported'],
    [
      'JWSInvalid: crit names b64 (an unencoded payload, never allowed in a JWT)',
      () => withHeader({ crit: ['b64'], b64: false }),
      'proof_header_unsupported',
    ],
    [
      'JOSEAlgNotAllowed: alg outside the allow-list',
      async () => {
        const [, p, s] = (await sign()).split('.');
        return `${b64({ alg: 'ES384', kid: 'k1' })}.${p}.${s}`;
      },
      'proof_alg_not_allowed',
    ],
    [
      'JWSSignatureVerificationFailed',
      async () => {
        const [h, p] = (await sign()).split('.');
        return `${h}.${p}.${b64('x'.repeat(64))}`;
      },
      'proof_signature',
    ],
    ['JWKSNoMatchingKey: unknown kid', () => sign({}, { kid: 'nope' }), 'proof_unknown_key'],
    ['JWTExpired (exp)', () => sign({ iat: NOW - 1200, exp: NOW - 600 }), 'proof_expired'],
    ['JWTExpired (iat older than the lifetime)', () => sign({ iat: NOW - 7200, exp: NOW + 60 }), 'proof_too_old'],
    ['JWTClaimValidationFailed (aud)', () => sign({ aud: 'https://other.example' }), 'proof_audience'],
    ['JWTClaimValidationFailed (nbf)', () => sign({ nbf: NOW + 600 }), 'proof_not_yet_valid'],
    [
      'JWTClaimValidationFailed (iat in the future)',
      () => sign({ iat: NOW + 600, exp: NOW + 900 }),
      'proof_not_yet_valid',
    ],
    ['JWTClaimValidationFailed (missing sub)', () => sign({ sub: undefined }), 'proof_claim'],
    ['JWTClaimValidationFailed (exp not a number)', () => sign({ exp: 'soon' }), 'proof_claim'],
  ];
  it.each(cases.map(([name, make, reason]) => [`${name} → ${reason}`, make, reason] as const))(
    'issue 8 item 1: %s',
    async (_name, make, reason) => {
      const r = await verify(await make());
      expect(reasonOf(r)).toBe(reason);
      expect(toWire(r.ok ? 'internal_error' : r.reason).status).toBe(400);
    },
  );

  it('issue 8 item 1: JWTClaimValidationFailed (typ) is proof_typ_mismatch with received and expected', async () => {
    const r = await verify(await sign({}, { typ: 'at+jwt' }), () => jwks, { typ: 'JWT' });
    expect(r).toMatchObject({
      ok: false,
      reason: 'proof_typ_mismatch',
      fields: { claim: 'typ', received: '"at+jwt"', expected: 'JWT' },
    });
  });

  it('issue 8 item 1: JWKSMultipleMatchingKeys (no kid, several keys) is proof_unknown_key', async () => {
    const second = {
      ...(await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey)),
      alg: 'ES256',
    };
    const set = createLocalJWKSet({ keys: [{ ...jwk, kid: undefined }, second] });
    const r = await verify(await sign({}, { kid: undefined }), () => set);
    expect(reasonOf(r)).toBe('proof_unknown_key');
  });

  it('issue 8 item 1: a resolver refusing a kid-less token (JWSInvalid) is proof_malformed, not a key-set failure', async () => {
    const r = await verify(await sign(), () => () => Promise.reject(new errors.JWSInvalid('kid is required')));
    expect(reasonOf(r)).toBe('proof_malformed');
  });
});

describe('issue 8 item 1: only the issuer key set or the network is verifier_unavailable', () => {
  const failures: [string, () => unknown][] = [
    ['JWKSTimeout', () => new errors.JWKSTimeout()],
    ['JWKSInvalid', () => new errors.JWKSInvalid('malformed')],
    ['JWKInvalid', () => new errors.JWKInvalid('bad key')],
    ['JOSENotSupported (a served key jose cannot import)', () => new errors.JOSENotSupported('Unsupported "kty"')],
    [
      'JOSEError (non-200 answer)',
      () => new errors.JOSEError('Expected 200 OK from the JSON Web Key Set HTTP response'),
    ],
    ['UpstreamError (bounded fetch)', () => new UpstreamError('timeout', 'issuer.example', 'JWKS fetch timed out')],
    ['a plain Error (discovery failed)', () => new Error('discovery failed')],
  ];
  it.each(failures)(
    'issue 8 item 1: %s thrown by the key set → 503 verifier_unavailable with Retry-After',
    async (_name, make) => {
      const r = await verify(await sign(), () => () => Promise.reject(make()));
      expect(r).toMatchObject({ ok: false, reason: 'verifier_unavailable', retryAfterSec: 30 });
      expect(toWire('verifier_unavailable').status).toBe(503);
    },
  );

  it("issue 8 item 1: a served RSA key under 2048 bits is the key set's failure", async () => {
    const weak = { algorithm: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024 } } as unknown as CryptoKey;
    const r = await verify(await sign(), () => async () => weak);
    expect(reasonOf(r)).toBe('verifier_unavailable');
  });
});

describe('issue 8 item 1: the mapping of classes jwtVerify raises only in odd cases', () => {
  const c: JoseErrorContext = {
    header: { alg: 'ES256', crit: ['x'] },
    audience: AUDIENCE,
    issuers: [ISSUER],
    algorithms: ['ES256'],
    typ: undefined,
    maxLifetimeSec: 3600,
    now: NOW,
    skewSec: 60,
  };
  it.each([
    [
      'JOSENotSupported outside the key set',
      new errors.JOSENotSupported('Extension Header Parameter "x" is not recognized'),
      'proof_header_unsupported',
    ],
    ['JOSEAlgNotAllowed', new errors.JOSEAlgNotAllowed('no'), 'proof_alg_not_allowed'],
    ['JWEInvalid', new errors.JWEInvalid('no'), 'proof_malformed'],
    ['JWEDecryptionFailed', new errors.JWEDecryptionFailed(), 'proof_malformed'],
    ['JWTInvalid', new errors.JWTInvalid('no'), 'proof_malformed'],
    ['JOSEError (generic)', new errors.JOSEError('no'), 'proof_malformed'],
    ['KeySetFailure', new KeySetFailure(new Error('down')), 'verifier_unavailable'],
  ] as const)('issue 8 item 1: %s → %s', (_name, e, reason) => {
    expect(refusalFromJoseError(e, c).reason).toBe(reason);
  });

  it("issue 8 item 1: an error that is neither jose's nor the key set's is the bridge's own: re-thrown (500), never blamed on the caller or the issuer", () => {
    expect(() => refusalFromJoseError(new TypeError('bug'), c)).toThrow(TypeError);
  });
});
