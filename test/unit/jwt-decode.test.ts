/**
 * Issue 12: a JWT proof is decoded once per request. Routing decodes the strict compact JWS (shape,
 * header, claims) and hands the decoding on with the proof; the shared verifier uses it only for the
 * very token it came from, and every check of the verifier still applies. A proof recalled by its
 * exact text is not checked again: only a text that passed the check was stored.
 */
import { generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { describe, expect, it } from 'vitest';
import { verificationOnlyDeps } from '../support/verification-only-deps.ts';
import type { AuditEvent } from '../../src/audit/audit.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, MAX_TOKEN_BYTES, TOKEN_TYPE } from '../../src/constants.ts';
import { verifyAndDecide } from '../../src/token/exchange.ts';
import { parseTokenRequest } from '../../src/token/request.ts';
import { accept, type ProofInput, type WorkloadVerifier } from '../../src/verify/contract.ts';
import { base64urlText, decodeCompactJwt } from '../../src/verify/jwt-decode.ts';
import { createJwtProofVerifier } from '../../src/verify/jwt.ts';

const NOW = Math.floor(Date.now() / 1000);
const ISSUER = 'https://issuer.example.test';
const AUDIENCE = 'https://bridge.example.test';
const b64url = (s: string | Uint8Array) => Buffer.from(s).toString('base64url');

/** A verifier of ISSUER's JWT proofs that accepts every proof it is asked to verify and records it. */
function recordingVerifier(seen: ProofInput[]): WorkloadVerifier {
  return {
    platform: 'oidc',
    tokenTypes: [TOKEN_TYPE.jwt],
    accepts: (_input, iss) => iss === ISSUER,
    async verify(input) {
      seen.push(input);
      return accept({
        platform: 'oidc',
        proofKind: 't',
        issuer: ISSUER,
        principal: 'p',
        expiresAt: NOW + 60,
        attributes: {},
      });
    },
  };
}

describe('issue 12: one decoding of a JWT proof', () => {
  it('issue 12: a checked segment decodes to its UTF-8 text, ASCII or not, invalid bytes as U+FFFD', () => {
    const utf8 = new TextDecoder();
    for (let n = 0; n < 80; n++) {
      const bytes = new Uint8Array(n).map((_, i) => (i * 37 + n * 11) & 0xff);
      expect(base64urlText(b64url(bytes))).toBe(utf8.decode(bytes));
      const ascii = bytes.map((b) => b & 0x7f);
      expect(base64urlText(b64url(ascii))).toBe(utf8.decode(ascii));
    }
    expect(base64urlText(b64url('{"iss":"é日本😀"}'))).toBe('{"iss":"é日本😀"}');
  });

  it('issue 12: header and claims are JSON objects or absent; the strict shape is refused as before', () => {
    const header = b64url(JSON.stringify({ alg: 'RS256' }));
    const decoded = decodeCompactJwt(`${header}.${b64url(JSON.stringify({ iss: ISSUER }))}.c2ln`);
    expect(decoded.ok && decoded.value.header).toEqual({ alg: 'RS256' });
    expect(decoded.ok && decoded.value.claims).toEqual({ iss: ISSUER });
    for (const payload of [b64url('[1]'), b64url('"iss"'), b64url('null'), b64url('{"iss":'), b64url('\xff{}')]) {
      const d = decodeCompactJwt(`${header}.${payload}.c2ln`);
      expect(d.ok && d.value.claims).toBeUndefined();
    }
    expect(decodeCompactJwt(`${header}.e30=.c2ln`)).toMatchObject({ ok: false, reason: 'proof_malformed' });
    expect(decodeCompactJwt(`${header}.e30.c2ln.x`)).toMatchObject({ ok: false, reason: 'proof_malformed' });
    expect(decodeCompactJwt(`${header}.${'e'.repeat(MAX_TOKEN_BYTES)}.c2ln`)).toMatchObject({
      ok: false,
      reason: 'proof_too_large',
    });
  });

  it('issue 12: a re-presented proof is recalled by its exact text without a new shape check; any other spelling of it is still refused', async () => {
    const seen: ProofInput[] = [];
    const verifier = recordingVerifier(seen);
    const deps = verificationOnlyDeps(verifier, { now: () => NOW });
    const header = b64url(JSON.stringify({ alg: 'ES256' }));
    const token = `${header}.${b64url(JSON.stringify({ iss: ISSUER }))}.c2lnAA`;
    const present = async (proof: string) => {
      const request = parseTokenRequest(
        new Map([
          ['grant_type', GRANT_TYPE_TOKEN_EXCHANGE],
          ['resource', 'https://graph.microsoft.com'],
          ['subject_token', proof],
          ['subject_token_type', TOKEN_TYPE.jwt],
        ]),
        new Set([TOKEN_TYPE.jwt]),
      );
      const audit: AuditEvent = { time: '', request_id: 'r', route: '/token', outcome: 'denied' };
      // The limiter of these deps refuses every verified caller: rate_limited means "verified or recalled".
      const outcome = await verifyAndDecide(deps, request, audit).catch((e: { reason?: string }) => e.reason);
      return { outcome, recalled: audit.proof_verification };
    };
    expect(await present(token)).toEqual({ outcome: 'rate_limited', recalled: 'verified' });
    expect(await present(token)).toEqual({ outcome: 'rate_limited', recalled: 'recalled' });
    expect(seen).toHaveLength(1);
    // The last signature character differs only in its spare bits (RFC 4648 §3.5): the same bytes to jose.
    const nonCanonical = `${token.slice(0, -2)}AB`;
    for (const other of [`${token}=`, `${token}.x`, ` ${token}`, `${token} `, nonCanonical])
      expect(await present(other)).toEqual({ outcome: 'proof_malformed', recalled: undefined });
    expect(seen).toHaveLength(1);
  });

  it('issue 12: routing refuses a JWT proof without a string iss before any verifier, and a proof type no platform accepts first', async () => {
    const seen: ProofInput[] = [];
    const deps = verificationOnlyDeps(recordingVerifier(seen), { now: () => NOW });
    const header = b64url(JSON.stringify({ alg: 'ES256' }));
    const refusal = (token: string, tokenType: string = TOKEN_TYPE.jwt) =>
      verifyAndDecide(
        deps,
        {
          mode: 'autonomous',
          proof: { token, tokenType },
          userToken: undefined,
          resource: 'https://graph.microsoft.com',
          scopes: ['https://graph.microsoft.com/.default'],
          agent: undefined,
          agentUser: undefined,
          agentUserRaw: undefined,
        },
        { time: '', request_id: 'r', route: '/token', outcome: 'denied' },
      ).catch((e: { reason?: string }) => e.reason);
    for (const claims of [{}, { iss: 42 }, { iss: [ISSUER] }])
      expect(await refusal(`${header}.${b64url(JSON.stringify(claims))}.c2ln`)).toBe('proof_malformed');
    const noIss = `${header}.${b64url(JSON.stringify({}))}.c2ln`;
    expect(await refusal(noIss, TOKEN_TYPE.idToken)).toBe('proof_unsupported');
    expect(seen).toHaveLength(0);
  });

  async function signed(key: CryptoKey, alg: string, claims: Record<string, unknown> = {}): Promise<string> {
    return new SignJWT({ sub: 'workload', ...claims })
      .setProtectedHeader({ alg })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(NOW)
      .setExpirationTime(NOW + 300)
      .sign(key);
  }

  it("issue 12: the verifier uses routing's decoding only for its own token: another token's decoding changes nothing", async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const verifier = createJwtProofVerifier({
      platform: 'oidc',
      proofKind: 'test-jwt',
      tokenTypes: [TOKEN_TYPE.jwt],
      issuers: [ISSUER],
      keysFor: () => async () => publicKey,
      algorithms: ['ES256'],
      maxLifetimeSec: 600,
      toWorkload: (payload) => accept({ principal: String(payload.sub), attributes: {} }),
    });
    const ctx = { now: NOW, audience: AUDIENCE, issuer: AUDIENCE };
    const good = await signed(privateKey, 'ES256');
    const goodDecoded = decodeCompactJwt(good);
    if (!goodDecoded.ok) throw new Error('decoding a good token failed');
    expect(
      await verifier.verify({ token: good, tokenType: TOKEN_TYPE.jwt, jwt: goodDecoded.value }, ctx),
    ).toMatchObject({
      ok: true,
      value: { principal: 'workload' },
    });
    // An unsigned token carrying the good token's decoding: decoded again, and refused by its own alg.
    const unsigned = `${b64url(JSON.stringify({ alg: 'none' }))}.${good.split('.')[1]}.`;
    expect(
      await verifier.verify({ token: unsigned, tokenType: TOKEN_TYPE.jwt, jwt: goodDecoded.value }, ctx),
    ).toMatchObject({ ok: false, reason: 'proof_alg_not_allowed' });
    // A token whose signature does not verify, with the good decoding: still refused by jose.
    const forged = `${good.split('.').slice(0, 2).join('.')}.${b64url(new Uint8Array(64))}`;
    expect(
      await verifier.verify({ token: forged, tokenType: TOKEN_TYPE.jwt, jwt: goodDecoded.value }, ctx),
    ).toMatchObject({ ok: false, reason: 'proof_signature' });
  });

  it("issue 12: the verifier asks keysFor once per issuer and that issuer's resolver for every proof; other issuers stay apart", async () => {
    const OTHER = 'https://other-issuer.example.test';
    const [one, two] = [await generateKeyPair('ES256'), await generateKeyPair('ES256')];
    const keysForCalls: string[] = [];
    const resolverCalls: string[] = [];
    const verifier = createJwtProofVerifier({
      platform: 'oidc',
      proofKind: 'test-jwt',
      tokenTypes: [TOKEN_TYPE.jwt],
      issuers: [ISSUER, OTHER],
      keysFor: (iss) => {
        keysForCalls.push(iss);
        return async () => {
          resolverCalls.push(iss);
          return iss === ISSUER ? one.publicKey : two.publicKey;
        };
      },
      algorithms: ['ES256'],
      maxLifetimeSec: 600,
      toWorkload: (payload) => accept({ principal: String(payload.sub), attributes: {} }),
    });
    const ctx = { now: NOW, audience: AUDIENCE, issuer: AUDIENCE };
    const verify = (token: string) => verifier.verify({ token, tokenType: TOKEN_TYPE.jwt }, ctx);
    for (let i = 0; i < 3; i++)
      expect(await verify(await signed(one.privateKey, 'ES256', { n: i }))).toMatchObject({ ok: true });
    // Another issuer's proof is checked with its own key: signed with the first issuer's key, it is refused.
    const otherBySecondKey = await new SignJWT({ sub: 'workload' })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(OTHER)
      .setAudience(AUDIENCE)
      .setIssuedAt(NOW)
      .setExpirationTime(NOW + 300)
      .sign(two.privateKey);
    const otherByFirstKey = await new SignJWT({ sub: 'workload' })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(OTHER)
      .setAudience(AUDIENCE)
      .setIssuedAt(NOW)
      .setExpirationTime(NOW + 300)
      .sign(one.privateKey);
    expect(await verify(otherBySecondKey)).toMatchObject({ ok: true });
    expect(await verify(otherByFirstKey)).toMatchObject({ ok: false, reason: 'proof_signature' });
    expect(keysForCalls).toEqual([ISSUER, OTHER]);
    expect(resolverCalls).toEqual([ISSUER, ISSUER, ISSUER, OTHER, OTHER]);
  });

  it('issue 12: routing hands the verifier the proof decoded, for that very token', async () => {
    const seen: ProofInput[] = [];
    const verifier = recordingVerifier(seen);
    const deps = verificationOnlyDeps(verifier, { now: () => NOW });
    const token = `${b64url(JSON.stringify({ alg: 'ES256' }))}.${b64url(JSON.stringify({ iss: ISSUER }))}.c2ln`;
    const audit: AuditEvent = { time: '', request_id: 'r', route: '/token', outcome: 'denied' };
    await expect(
      verifyAndDecide(
        deps,
        {
          mode: 'autonomous',
          proof: { token, tokenType: TOKEN_TYPE.jwt },
          userToken: undefined,
          resource: 'https://graph.microsoft.com',
          scopes: ['https://graph.microsoft.com/.default'],
          agent: undefined,
          agentUser: undefined,
          agentUserRaw: undefined,
        },
        audit,
      ),
    ).rejects.toMatchObject({ reason: 'rate_limited' });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.jwt?.token).toBe(token);
    expect(seen[0]!.jwt?.claims).toEqual({ iss: ISSUER });
    expect(seen[0]!.jwt?.header).toEqual({ alg: 'ES256' });
  });
});
