import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createGcpVerifier, GCP_DEFAULT_JWKS_URL } from '../../../adapters/gcp/index.ts';
import { TOKEN_TYPE } from '../../../src/constants.ts';
import { createBoundedFetch } from '../../../src/net/bounded-fetch.ts';
import type { AdapterDeps, VerifyContext, VerifyResult, WorkloadVerifier } from '../../../src/verify/contract.ts';
import { peekIssuer } from '../../../src/verify/jwt.ts';
import { startGcpEmulator, type GcpEmulator } from '../../emulators/gcp/index.ts';
import { buildGcpVector, loadGcpVectors } from '../../vectors/gcp/build.ts';

const NOW = 1_800_000_000;
const AUDIENCE = 'https://bridge.example.test';
const ctx: VerifyContext = { now: NOW, audience: AUDIENCE, issuer: AUDIENCE };
const deps: AdapterDeps = { fetch: createBoundedFetch({ allowInsecureLoopback: true }), clock: () => NOW };

let emulator: GcpEmulator;
let verifier: WorkloadVerifier;

beforeAll(async () => {
  emulator = await startGcpEmulator({ clock: () => NOW });
  verifier = createGcpVerifier({ jwksUrl: emulator.jwksUrl }, deps);
});
afterAll(() => emulator.close());

function verify(token: string, v: WorkloadVerifier = verifier): Promise<VerifyResult> {
  return v.verify({ token, tokenType: TOKEN_TYPE.idToken }, ctx);
}

function expectRefused(result: VerifyResult, reason: string, token: string): void {
  expect(result).toMatchObject({ ok: false, reason });
  if (result.ok) return;
  // A refusal must never carry the proof (docs/architecture.md#threat-model).
  expect(result.detail).not.toContain(token);
  for (const segment of token.split('.')) if (segment.length > 16) expect(result.detail).not.toContain(segment);
}

describe('GCP verifier: accepted tokens', () => {
  it('accepts a format=full metadata-server token and exposes principal and attributes', async () => {
    const sa = emulator.serviceAccount;
    const result = await verify(await emulator.mintIdToken({ audience: AUDIENCE, format: 'full' }));
    expect(result).toEqual({
      ok: true,
      value: {
        platform: 'gcp',
        proofKind: 'gcp-id-token',
        issuer: 'https://accounts.google.com',
        principal: sa.uniqueId,
        expiresAt: NOW + 3600,
        attributes: {
          azp: sa.uniqueId,
          email: sa.email,
          project_id: sa.projectId,
          project_number: sa.projectNumber,
          zone: 'us-central1-a',
          instance_id: '4567890123456789012',
          instance_name: 'agent-vm-1',
          project: sa.projectId,
        },
      },
    });
  });

  it('accepts a format=standard token (no email, no instance) on sub alone', async () => {
    const result = await verify(await emulator.mintIdToken({ audience: AUDIENCE }));
    expect(result.ok && result.value.principal).toBe(emulator.serviceAccount.uniqueId);
    expect(result.ok && result.value.attributes).toEqual({ azp: emulator.serviceAccount.uniqueId });
  });

  it('accepts the scheme-less issuer spelling accounts.google.com', async () => {
    const result = await verify(
      await emulator.mintIdToken({ audience: AUDIENCE, claims: { iss: 'accounts.google.com' } }),
    );
    expect(result.ok && result.value.issuer).toBe('accounts.google.com');
  });

  it('derives project from a verified user-managed service account email when compute_engine is absent (Cloud Run)', async () => {
    const claims = { email: 'runner@my-project-42.iam.gserviceaccount.com', email_verified: true };
    const result = await verify(await emulator.mintIdToken({ audience: AUDIENCE, claims }));
    expect(result.ok && result.value.attributes).toMatchObject({
      email: 'runner@my-project-42.iam.gserviceaccount.com',
      project: 'my-project-42',
    });
  });

  it('does not expose email (nor a project derived from it) unless email_verified is true', async () => {
    for (const emailVerified of [false, 'true', undefined]) {
      const claims = { email: 'runner@my-project-42.iam.gserviceaccount.com', email_verified: emailVerified };
      const result = await verify(await emulator.mintIdToken({ audience: AUDIENCE, claims }));
      expect(result.ok).toBe(true);
      expect(result.ok && result.value.attributes).toEqual({ azp: emulator.serviceAccount.uniqueId });
    }
  });

  it('routes on the unverified issuer: both Google spellings, nothing else', async () => {
    const input = { token: '', tokenType: TOKEN_TYPE.jwt };
    expect(verifier.platform).toBe('gcp');
    expect(verifier.tokenTypes).toEqual([TOKEN_TYPE.jwt, TOKEN_TYPE.idToken]);
    expect(verifier.accepts(input, 'https://accounts.google.com')).toBe(true);
    expect(verifier.accepts(input, 'accounts.google.com')).toBe(true);
    for (const iss of [
      'googleapis.com',
      'https://accounts.google.com/',
      'https://accounts.google.com.evil',
      undefined,
    ]) {
      expect(verifier.accepts(input, iss)).toBe(false);
    }
    expect(peekIssuer(await emulator.mintIdToken({ audience: AUDIENCE }))).toBe('https://accounts.google.com');
    expect(GCP_DEFAULT_JWKS_URL).toBe('https://www.googleapis.com/oauth2/v3/certs');
  });
});

describe('GCP verifier: vectors (test/vectors/gcp, one file per broken condition)', () => {
  const vectors = loadGcpVectors();

  it('has the vectors on disk', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(20);
  });

  it('builder sanity: a vector with no changes is accepted', async () => {
    const token = await buildGcpVector({ description: 'good', expect: 'internal_error' }, emulator, {
      now: NOW,
      audience: AUDIENCE,
    });
    expect((await verify(token)).ok).toBe(true);
  });

  it.each(vectors.map((v) => [v.name, v] as const))('%s is refused with its reason', async (_name, vector) => {
    const token = await buildGcpVector(vector, emulator, { now: NOW, audience: AUDIENCE });
    expectRefused(await verify(token), vector.expect, token);
  });
});

describe('GCP verifier: JWKS fetching', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('refetches on an unknown kid at most once per cooldown, and picks up a rotated key', async () => {
    // jose's JWKS cache runs on the wall clock; fake only Date so loopback I/O still works.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2027-01-01T00:00:00Z'));
    const own = await startGcpEmulator({ clock: () => NOW });
    try {
      const v = createGcpVerifier({ jwksUrl: own.jwksUrl }, deps);
      const oldToken = await own.mintIdToken({ audience: AUDIENCE });
      const unknownKid = await own.mintIdToken({ audience: AUDIENCE, header: { kid: 'f'.repeat(40) } });

      expect((await verify(oldToken, v)).ok).toBe(true);
      expect(own.jwksHits).toBe(1);

      // Within the cooldown that follows a fetch: no refetch at all.
      expectRefused(await verify(unknownKid, v), 'proof_unknown_key', unknownKid);
      expect(own.jwksHits).toBe(1);

      // After the cooldown: one refetch, and a second unknown kid right away costs nothing more.
      vi.advanceTimersByTime(31_000);
      expectRefused(await verify(unknownKid, v), 'proof_unknown_key', unknownKid);
      expectRefused(await verify(unknownKid, v), 'proof_unknown_key', unknownKid);
      expect(own.jwksHits).toBe(2);

      // Rotation: the new kid is found by the first refetch the cooldown allows.
      await own.rotateKey();
      const newToken = await own.mintIdToken({ audience: AUDIENCE });
      expectRefused(await verify(newToken, v), 'proof_unknown_key', newToken);
      vi.advanceTimersByTime(31_000);
      expect((await verify(newToken, v)).ok).toBe(true);
      expect(own.jwksHits).toBe(3);
      // Google keeps serving the previous key for a while; tokens it signed stay valid.
      expect((await verify(oldToken, v)).ok).toBe(true);
      expect(own.jwksHits).toBe(3);
    } finally {
      await own.close();
    }
  });

  it('serves a Google-shaped JWKS with caching headers', async () => {
    const res = await fetch(emulator.jwksUrl);
    expect(res.headers.get('cache-control')).toMatch(/^public, max-age=\d+/);
    const { keys } = (await res.json()) as { keys: Record<string, unknown>[] };
    expect(keys[0]).toEqual({
      ...emulator.signingKey.publicJwk,
      kty: 'RSA',
      alg: 'RS256',
      use: 'sig',
      kid: emulator.signingKey.kid,
    });
    expect(Object.keys(keys[0]!).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
  });

  it('answers verifier_unavailable when the JWKS cannot be reached', async () => {
    const closed = await startGcpEmulator({ clock: () => NOW });
    const token = await closed.mintIdToken({ audience: AUDIENCE });
    await closed.close();
    const result = await verify(token, createGcpVerifier({ jwksUrl: closed.jwksUrl }, deps));
    expectRefused(result, 'verifier_unavailable', token);
    expect(!result.ok && result.retryAfterSec).toBeGreaterThan(0);
  });

  it('answers verifier_unavailable when the JWKS URL is plain http to a non-loopback host', async () => {
    const token = await emulator.mintIdToken({ audience: AUDIENCE });
    const result = await verify(
      token,
      createGcpVerifier({ jwksUrl: 'http://www.googleapis.com/oauth2/v3/certs' }, deps),
    );
    expectRefused(result, 'verifier_unavailable', token);
  });
});
