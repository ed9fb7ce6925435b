/**
 * Issue 8 items 1, 2, 5 and 11 through the real app over HTTP, for every JWT proof kind (GCP ID
 * token, AWS web identity JWT, n8n assertion) at /token and /explain: what the token itself causes
 * is a 400 with a reason of its own, never a 503; exactly one audience; the description says what
 * the caller controls and nothing about policy; one accepted spelling per token.
 */
import { importJWK, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/audit.ts';
import { TOKEN_TYPE } from '../../src/constants.ts';
import type { AwsSandboxPlatform } from '../../sandbox/platforms/aws.ts';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';
import { postToken, type TokenResponse } from '../support/http.ts';

const GENERIC = 'The workload proof could not be verified.';
const OTHER_PARTY = 'https://other-party.example';

let sb: Sandbox;
let aws: AwsSandboxPlatform;
let n8nKey: CryptoKey;
let n8n: { instanceId: string; workflowId: string; kid: string };
const audit: AuditEvent[] = [];

beforeAll(async () => {
  sb = await startSandbox({ port: 0, audit: (e) => audit.push(e) });
  aws = sb.platforms.find((p) => p.name === 'aws') as AwsSandboxPlatform;
  const m = sb.manifest.n8n as {
    instanceId: string;
    workflowId: string;
    privateJwk: Record<string, string>;
    kid: string;
  };
  n8nKey = (await importJWK(m.privateJwk, 'ES256')) as CryptoKey;
  n8n = m;
});
afterAll(async () => sb?.close());
beforeEach(() => {
  audit.length = 0;
  sb.entra.resetCalls();
});

const now = () => Math.floor(Date.now() / 1000);

interface ProofKind {
  name: string;
  tokenType: string;
  /** A good proof; `claims` override the payload (e.g. aud). */
  mint(claims?: Record<string, unknown>): Promise<string>;
  /** The audience this kind must carry. */
  audience(): string;
}

const kinds: ProofKind[] = [
  {
    name: 'GCP ID token',
    tokenType: TOKEN_TYPE.idToken,
    mint: (claims) => sb.gcp.emulator.mintIdToken({ audience: sb.url, format: 'full', ...(claims ? { claims } : {}) }),
    audience: () => sb.url,
  },
  {
    name: 'AWS web identity JWT',
    tokenType: TOKEN_TYPE.jwt,
    mint: async (claims) => {
      const aud = claims?.aud;
      return aws.emulator.mintWebIdentityToken({
        audiences: Array.isArray(aud) ? (aud as string[]) : [typeof aud === 'string' ? aud : sb.url],
      });
    },
    audience: () => sb.url,
  },
  {
    name: 'n8n assertion',
    tokenType: TOKEN_TYPE.jwt,
    mint: (claims) =>
      new SignJWT({
        sub: `n8n:${n8n.instanceId}:workflow:${n8n.workflowId}`,
        aud: `${sb.url}/token`,
        jti: crypto.randomUUID(),
        ...claims,
      })
        .setProtectedHeader({ alg: 'ES256', kid: n8n.kid, typ: 'JWT' })
        .setIssuer(`n8n:${n8n.instanceId}`)
        .setIssuedAt()
        .setExpirationTime('60s')
        .sign(n8nKey),
    audience: () => `${sb.url}/token`,
  },
];

/** The proof with its JOSE header replaced (the signature no longer matches: none is needed). */
function withHeader(token: string, extra: Record<string, unknown>): string {
  const [h, p, s] = token.split('.') as [string, string, string];
  const header = { ...(JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>), ...extra };
  return `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${p}.${s}`;
}

function send(kind: ProofKind, token: string, path: '/token' | '/explain' = '/token'): Promise<TokenResponse> {
  return postToken(
    sb.url,
    { subject_token: token, subject_token_type: kind.tokenType, resource: SANDBOX.graph },
    { path },
  );
}

function auditOf(res: TokenResponse): AuditEvent {
  const id = res.body.request_id ?? res.headers.get('x-request-id');
  const event = audit.find((e) => e.request_id === id);
  if (!event) throw new Error('no audit event for this request');
  return event;
}

describe("issue 8 item 1: a token's own content never yields 503", () => {
  describe.each(kinds.map((k) => [k.name, k] as const))('%s', (_name, kind) => {
    it.each(['/token', '/explain'] as const)(
      'issue 8 item 1: a crit header naming an unknown extension is 400 proof_header_unsupported at %s, not 503',
      async (path) => {
        const token = withHeader(await kind.mint(), { crit: ['urn:example:unknown'], 'urn:example:unknown': true });
        const res = await send(kind, token, path);
        expect(res.status).toBe(400);
        expect(res.body.error).toBe('invalid_request');
        expect(res.headers.get('retry-after')).toBeNull();
        const event = auditOf(res);
        expect(event).toMatchObject({
          outcome: 'denied',
          reason: 'proof_header_unsupported',
          fields: { claim: 'crit', expected: 'absent' },
        });
        expect(event.detail ?? '').not.toMatch(/issuer key/);
        expect(sb.entra.calls).toHaveLength(0);
      },
    );

    it('issue 8 item 1: a malformed crit (not an array) and a header that is not JSON are 400, not 503', async () => {
      const good = await kind.mint();
      const [, p, s] = good.split('.') as [string, string, string];
      for (const [token, reason] of [
        [withHeader(good, { crit: 'b64' }), 'proof_header_unsupported'],
        [`${Buffer.from('{"alg":"RS256",').toString('base64url')}.${p}.${s}`, 'proof_malformed'],
      ] as const) {
        const res = await send(kind, token);
        expect(res.status).toBe(400);
        expect(auditOf(res).reason).toBe(reason);
      }
    });

    it('issue 8 item 1: a bad signature is 400 proof_signature; an unknown kid is 400 proof_unknown_key', async () => {
      const good = await kind.mint();
      const [h, p, s] = good.split('.') as [string, string, string];
      const flipped = `${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`;
      const bad = await send(kind, flipped);
      expect(bad.status).toBe(400);
      expect(auditOf(bad).reason).toBe('proof_signature');
      const unknownKid = await send(kind, withHeader(good, { kid: 'no-such-key' }));
      expect(unknownKid.status).toBe(400);
      expect(auditOf(unknownKid).reason).toBe('proof_unknown_key');
    });
  });
});

describe('issue 8 item 2: exactly one audience', () => {
  describe.each(kinds.map((k) => [k.name, k] as const))('%s', (_name, kind) => {
    it.each(['/token', '/explain'] as const)(
      'issue 8 item 2: a proof also issued for another party is refused at %s (proof_audience_multiple)',
      async (path) => {
        const res = await send(kind, await kind.mint({ aud: [kind.audience(), OTHER_PARTY] }), path);
        expect(res.status).toBe(400);
        expect(res.body.error).toBe('invalid_request');
        expect(auditOf(res)).toMatchObject({
          reason: 'proof_audience_multiple',
          fields: { claim: 'aud', expected: kind.audience(), received: JSON.stringify([kind.audience(), OTHER_PARTY]) },
        });
        expect(res.body.error_description).toBe(
          `${GENERIC} It must carry exactly one audience (aud), "${kind.audience()}", as a string or a one-element array.`,
        );
        expect(sb.entra.calls).toHaveLength(0);
      },
    );

    it('issue 8 item 2: the audience as a one-element array is accepted', async () => {
      const res = await send(kind, await kind.mint({ aud: [kind.audience()] }));
      expect(res.status).toBe(200);
    });
  });
});

describe('issue 8 item 5: the description tells callers what they control', () => {
  describe.each(kinds.map((k) => [k.name, k] as const))('%s', (_name, kind) => {
    it('issue 8 item 5: a wrong audience names the expected audience; the audit has received and expected', async () => {
      const res = await send(kind, await kind.mint({ aud: OTHER_PARTY }));
      expect(res.status).toBe(400);
      expect(res.body.error_description).toBe(`${GENERIC} Its audience (aud) must be "${kind.audience()}".`);
      expect(auditOf(res)).toMatchObject({
        reason: 'proof_audience',
        fields: { claim: 'aud', received: JSON.stringify(OTHER_PARTY), expected: kind.audience() },
      });
    });
  });

  it('issue 8 item 5: a named scope in autonomous mode is told the scope grammar', async () => {
    const res = await postToken(sb.url, {
      subject_token: await kinds[0]!.mint(),
      subject_token_type: TOKEN_TYPE.idToken,
      scope: `${SANDBOX.graph}/User.Read.All`,
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      error: 'invalid_target',
      error_description:
        'The scope or resource parameter is missing or malformed. Autonomous mode takes exactly one <resource>/.default scope.',
    });
  });

  it('issue 8 item 5: an expired GCP token says so; a not-yet-valid one says to check the clock', async () => {
    const t = now();
    const expired = await sb.gcp.emulator.mintIdToken({ audience: sb.url, iat: t - 7200, exp: t - 3600 });
    const res = await send(kinds[0]!, expired);
    expect(res.body.error_description).toBe(`${GENERIC} It has expired (exp); present a fresh one.`);
    expect(auditOf(res)).toMatchObject({
      reason: 'proof_expired',
      fields: { claim: 'exp', received: String(t - 3600) },
    });
    const future = await sb.gcp.emulator.mintIdToken({ audience: sb.url, claims: { nbf: t + 3600 } });
    const res2 = await send(kinds[0]!, future);
    expect(res2.body.error_description).toMatch(/not valid yet/);
    expect(auditOf(res2)).toMatchObject({
      reason: 'proof_not_yet_valid',
      fields: { claim: 'nbf', received: String(t + 3600) },
    });
  });

  it('issue 8 item 5: an n8n assertion with the wrong typ names the expected token type', async () => {
    const token = await new SignJWT({
      sub: `n8n:${n8n.instanceId}:workflow:${n8n.workflowId}`,
      aud: `${sb.url}/token`,
      jti: crypto.randomUUID(),
    })
      .setProtectedHeader({ alg: 'ES256', kid: n8n.kid, typ: 'at+jwt' })
      .setIssuer(`n8n:${n8n.instanceId}`)
      .setIssuedAt()
      .setExpirationTime('60s')
      .sign(n8nKey);
    const res = await send(kinds[2]!, token);
    expect(res.body.error_description).toBe(`${GENERIC} Its JOSE header typ must be "JWT".`);
    expect(auditOf(res)).toMatchObject({
      reason: 'proof_typ_mismatch',
      fields: { claim: 'typ', received: '"at+jwt"', expected: 'JWT' },
    });
  });

  it("issue 8 item 5: a GCP token with a disallowed alg names the accepted one (Google's issuer is public)", async () => {
    const res = await send(kinds[0]!, withHeader(await kinds[0]!.mint(), { alg: 'RS512' }));
    expect(res.body.error_description).toBe(`${GENERIC} Its alg must be RS256.`);
    expect(auditOf(res)).toMatchObject({
      reason: 'proof_alg_not_allowed',
      fields: { claim: 'alg', received: '"RS512"', expected: 'RS256' },
    });
  });

  it('issue 8 item 5: an n8n assertion refused before its signature verified answers the same for a registered and an unregistered instance', async () => {
    const answers: unknown[] = [];
    for (const instance of [n8n.instanceId, 'no-such-instance']) {
      const good = await new SignJWT({
        sub: `n8n:${instance}:workflow:${n8n.workflowId}`,
        aud: `${sb.url}/token`,
        jti: crypto.randomUUID(),
      })
        .setProtectedHeader({ alg: 'ES256', kid: n8n.kid, typ: 'JWT' })
        .setIssuer(`n8n:${instance}`)
        .setIssuedAt()
        .setExpirationTime('60s')
        .sign(n8nKey);
      for (const token of [
        withHeader(good, { alg: 'RS256' }),
        withHeader(good, { crit: ['x'] }),
        withHeader(good, { kid: 'other' }),
      ]) {
        const res = await send(kinds[2]!, token);
        answers.push({ status: res.status, error: res.body.error, description: res.body.error_description });
      }
    }
    expect(answers).toHaveLength(6);
    for (const a of answers) expect(a).toEqual({ status: 400, error: 'invalid_request', description: GENERIC });
  });

  it('issue 8 item 5: an unsupported subject_token_type names the accepted token types', async () => {
    const res = await postToken(sb.url, {
      subject_token: await kinds[0]!.mint(),
      subject_token_type: 'urn:ietf:params:oauth:token-type:saml2',
      resource: SANDBOX.graph,
    });
    expect(res.status).toBe(400);
    expect(String(res.body.error_description)).toMatch(
      /^The token type is not supported for this position\. subject_token_type \(the workload proof\) must be one of: .*urn:ietf:params:oauth:token-type:id_token/,
    );
  });

  it('issue 8 item 5: the unknown-issuer answer is the same for every issuer the bridge does not trust, and names none', async () => {
    const good = await kinds[0]!.mint();
    const [h, , s] = good.split('.') as [string, string, string];
    const answers = new Set<string>();
    for (const iss of [
      'https://accounts.google.com.evil',
      'https://unknown.tokens.sts.global.api.aws',
      'n8n:no-such-instance',
      `n8n:${n8n.instanceId}x`,
    ]) {
      const payload = Buffer.from(JSON.stringify({ iss, aud: sb.url, sub: '1', iat: now(), exp: now() + 60 })).toString(
        'base64url',
      );
      const res = await send(kinds[1]!, `${h}.${payload}.${s}`);
      expect(res.status).toBe(400);
      expect(auditOf(res)).toMatchObject({
        reason: 'proof_untrusted_issuer',
        fields: { claim: 'iss', received: JSON.stringify(iss) },
      });
      answers.add(
        JSON.stringify({ status: res.status, error: res.body.error, description: res.body.error_description }),
      );
    }
    expect([...answers]).toEqual([JSON.stringify({ status: 400, error: 'invalid_request', description: GENERIC })]);
  });

  it('issue 8 item 5: the no-rule answer is the same for a principal some rule names and for one none does', async () => {
    // The sandbox's rule names this workflow for the Graph resource only; asking for another
    // agent's identity or for a workflow no rule names must not tell the two apart on the wire.
    const named = await send(kinds[2]!, await kinds[2]!.mint(), '/token');
    expect(named.status).toBe(200);
    const unnamed = await send(
      kinds[2]!,
      await kinds[2]!.mint({ sub: `n8n:${n8n.instanceId}:workflow:NotInPolicy00001` }),
    );
    const otherUnnamed = await send(
      kinds[2]!,
      await kinds[2]!.mint({ sub: `n8n:${n8n.instanceId}:workflow:NotInPolicy00002` }),
    );
    const strip = (r: TokenResponse) => ({
      status: r.status,
      error: r.body.error,
      description: r.body.error_description,
    });
    expect(strip(unnamed)).toEqual({
      status: 400,
      error: 'invalid_request',
      description: 'No trust policy rule allows this workload.',
    });
    expect(strip(otherUnnamed)).toEqual(strip(unnamed));
  });
});

describe('issue 8 item 11: a strict compact-JWS check before routing', () => {
  it('issue 8 item 11: a GCP ID token with whitespace inside its signature segment is refused before any cache or verification', async () => {
    const good = await kinds[0]!.mint();
    const ok = await send(kinds[0]!, good);
    expect(ok.status).toBe(200);
    expect(auditOf(ok).proof_sha256).toMatch(/^[0-9a-f]{64}$/);
    sb.entra.resetCalls();
    const [h, p, s] = good.split('.') as [string, string, string];
    for (const spaced of [
      `${h}.${p}.${s.slice(0, 10)} ${s.slice(10)}`,
      `${h}.${p}.${s.slice(0, 20)}\n${s.slice(20)}`,
      `${h}.${p}.${s}\t`,
      `${h}.${p} .${s}`,
    ]) {
      const res = await send(kinds[0]!, spaced);
      expect(res.status).toBe(400);
      expect(res.body.error_description).toBe(
        `${GENERIC} A JWT proof must be a compact JWS: three base64url segments (no padding, no whitespace) joined by dots.`,
      );
      const event = auditOf(res);
      expect(event.reason).toBe('proof_malformed');
      // Refused before it was hashed or looked up: no proof hash, no platform chosen.
      expect(event.proof_sha256).toBeUndefined();
      expect(event.platform).toBeUndefined();
    }
    expect(sb.entra.calls).toHaveLength(0);
  });

  it('issue 8 item 11: a signature in a non-canonical spelling (non-zero spare bits) or with padding is refused', async () => {
    const good = await kinds[0]!.mint();
    const [h, p, s] = good.split('.') as [string, string, string];
    // 256-byte RS256 signature: 342 characters, the last carrying 4 spare bits.
    const last = s.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sibling = alphabet[alphabet.indexOf(last) | 1]!;
    expect(sibling).not.toBe(last);
    for (const token of [
      `${h}.${p}.${s.slice(0, -1)}${sibling}`,
      `${h}.${p}.${s}==`,
      `${h}.${p}.${s.replaceAll('-', '+')}${s.includes('-') ? '' : '+'}`,
    ]) {
      const res = await send(kinds[0]!, token);
      expect(res.status).toBe(400);
      expect(auditOf(res)).toMatchObject({ reason: 'proof_malformed' });
      expect(auditOf(res).proof_sha256).toBeUndefined();
    }
  });
});
