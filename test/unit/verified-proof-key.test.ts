/**
 * Issue 8 item 11: the core's verified-proof cache keys a proof by the verifier's canonical identity
 * when the verifier has one (AWS: the rebuilt request), so many spellings of one proof cost one
 * verification and one cache entry; a refusal of the canonical key is answered without verifying.
 */
import { describe, expect, it } from 'vitest';
import { verificationOnlyDeps } from '../support/verification-only-deps.ts';
import type { AuditEvent } from '../../src/audit/audit.ts';
import { TOKEN_TYPE } from '../../src/constants.ts';
import { verifyAndDecide, type ExchangeDeps } from '../../src/token/exchange.ts';
import type { TokenRequest } from '../../src/token/request.ts';
import { accept, refuse, type ProofInput, type WorkloadVerifier } from '../../src/verify/contract.ts';
import { canonicalProofKey, exactProofKey, proofDigest } from '../../src/verify/proof-key.ts';

const NOW = 1_800_000_000;

/** A verifier whose proofs are any spelling of a word: surrounding spaces and case do not matter. */
function spellingVerifier(verified: string[]): WorkloadVerifier {
  return {
    platform: 'aws',
    tokenTypes: [TOKEN_TYPE.aws4Request],
    accepts: () => true,
    canonicalKey: (input: ProofInput) =>
      input.token.includes('pad') ? refuse('proof_malformed', 'padding') : accept(input.token.trim().toLowerCase()),
    async verify(input) {
      verified.push(input.token);
      return accept({
        platform: 'aws',
        proofKind: 'test',
        issuer: 'test',
        principal: 'p',
        expiresAt: NOW + 600,
        attributes: {},
      });
    },
  };
}

const deps = (verifier: WorkloadVerifier): ExchangeDeps => verificationOnlyDeps(verifier, { now: () => NOW });

const request = (token: string): TokenRequest => ({
  mode: 'autonomous',
  proof: { token, tokenType: TOKEN_TYPE.aws4Request },
  userToken: undefined,
  resource: 'https://graph.microsoft.com',
  scopes: ['https://graph.microsoft.com/.default'],
  agent: undefined,
  agentUser: undefined,
  agentUserRaw: undefined,
});
const audit = (): AuditEvent => ({ time: '', request_id: 'r', route: '/token', outcome: 'denied' });

describe('issue 8 item 11: the verified-proof cache is keyed by the canonical identity', () => {
  it('issue 8 item 11: spellings of one proof are verified once; a canonical-key refusal is answered without verifying', async () => {
    const verified: string[] = [];
    const d = deps(spellingVerifier(verified));
    for (const token of ['proof', ' proof', 'PROOF ', 'Proof'])
      await expect(verifyAndDecide(d, request(token), audit())).rejects.toMatchObject({ reason: 'rate_limited' });
    expect(verified).toEqual(['proof']);
    await expect(verifyAndDecide(d, request('pad proof'), audit())).rejects.toMatchObject({
      reason: 'proof_malformed',
    });
    expect(verified).toEqual(['proof']);
    await expect(verifyAndDecide(d, request('other'), audit())).rejects.toMatchObject({ reason: 'rate_limited' });
    expect(verified).toEqual(['proof', 'other']);
  });
});

describe('issue 12 item 2: a re-presented proof is recalled before it is routed or decoded', () => {
  it('issue 12 item 2: a proof that verified is found by its exact text: no routing, no canonical key, no verification', async () => {
    const verified: string[] = [];
    const calls = { accepts: 0, canonicalKey: 0 };
    const inner = spellingVerifier(verified);
    const counting: WorkloadVerifier = {
      ...inner,
      tokenTypes: [TOKEN_TYPE.jwt],
      canonicalKey: undefined,
      accepts: (...a) => (calls.accepts++, inner.accepts(...a)),
    };
    const d = deps(counting);
    const jwtRequest = (token: string): TokenRequest => ({
      ...request(token),
      proof: { token, tokenType: TOKEN_TYPE.jwt },
    });
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIn0.c2ln';
    await expect(verifyAndDecide(d, jwtRequest(token), audit())).rejects.toMatchObject({ reason: 'rate_limited' });
    expect({ verified: verified.length, accepts: calls.accepts }).toEqual({ verified: 1, accepts: 1 });
    const second = audit();
    await expect(verifyAndDecide(d, jwtRequest(token), second)).rejects.toMatchObject({ reason: 'rate_limited' });
    // Recalled: routing (accepts) was not asked again, and the audit line still names the platform and proof hash.
    expect({ verified: verified.length, accepts: calls.accepts }).toEqual({ verified: 1, accepts: 1 });
    expect(second.platform).toBe('aws');
    expect(second.proof_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(calls.canonicalKey).toBe(0);
  });
});

describe('issue 12 item 2: the spelling that verified is recalled without its canonical key', () => {
  it('issue 12 item 2: a proof with a canonical key, presented again as it verified, costs no canonical key; another spelling does', async () => {
    const verified: string[] = [];
    const inner = spellingVerifier(verified);
    let canonicalKeys = 0;
    const counting: WorkloadVerifier = {
      ...inner,
      canonicalKey: (input) => (canonicalKeys++, inner.canonicalKey!(input)),
    };
    const d = deps(counting);
    await expect(verifyAndDecide(d, request('proof'), audit())).rejects.toMatchObject({ reason: 'rate_limited' });
    expect(canonicalKeys).toBe(1);
    await expect(verifyAndDecide(d, request('proof'), audit())).rejects.toMatchObject({ reason: 'rate_limited' });
    expect(canonicalKeys).toBe(1);
    await expect(verifyAndDecide(d, request(' PROOF'), audit())).rejects.toMatchObject({ reason: 'rate_limited' });
    expect({ canonicalKeys, verified }).toEqual({ canonicalKeys: 2, verified: ['proof'] });
  });
});

describe('issue 12: the verified-proof cache is keyed by a digest of the proof, computed once per request', () => {
  /** The keys the exchange files verified proofs under. */
  function recordingDeps(verifier: WorkloadVerifier): { d: ExchangeDeps; keys: string[] } {
    const d = deps(verifier);
    const keys: string[] = [];
    const cache = d.verifiedProofs;
    const set = cache.set.bind(cache);
    cache.set = (key, ...rest) => (keys.push(key), set(key, ...rest));
    return { d, keys };
  }

  it('issue 12: no key holds the proof text, distinct proofs get distinct keys, and the audit digest is the key digest', async () => {
    const verified: string[] = [];
    const { d, keys } = recordingDeps({ ...spellingVerifier(verified), canonicalKey: undefined });
    const proofs = ['first proof '.repeat(50), 'second proof '.repeat(50), 'first proof '.repeat(50) + 'x'];
    const audits = proofs.map(() => audit());
    for (const [i, token] of proofs.entries())
      await expect(verifyAndDecide(d, request(token), audits[i]!)).rejects.toMatchObject({ reason: 'rate_limited' });
    expect(verified).toEqual(proofs);
    expect(new Set(keys).size).toBe(proofs.length);
    for (const [i, key] of keys.entries()) {
      expect(key).not.toContain('proof');
      expect(key).toBe(exactProofKey(TOKEN_TYPE.aws4Request, audits[i]!.proof_sha256!));
    }
    // Each presented again is a cache hit: one verification each, however often presented.
    for (const token of proofs)
      await expect(verifyAndDecide(d, request(token), audit())).rejects.toMatchObject({ reason: 'rate_limited' });
    expect(verified).toEqual(proofs);
  });

  it('issue 12: one proof under two token types, and an exact and a canonical key, never share a key', () => {
    const digest = proofDigest('a proof');
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(proofDigest('a proof ')).not.toBe(digest);
    expect(exactProofKey(TOKEN_TYPE.jwt, digest)).not.toBe(exactProofKey(TOKEN_TYPE.idToken, digest));
    expect(exactProofKey(TOKEN_TYPE.aws4Request, digest)).not.toBe(canonicalProofKey(TOKEN_TYPE.aws4Request, digest));
  });
});
