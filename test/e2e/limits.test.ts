/**
 * Issue 8 item 11 over real HTTP: the admission guard in front of verification. A caller who
 * matches no rule can make the bridge verify (and call STS) only a bounded number of times per
 * client address and per issuer, and only a bounded number at once; a client at another address
 * keeps being served. Client addresses are real loopback sources (127.0.0.1, 127.0.0.2).
 */
import { request } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { signGetCallerIdentityProof } from '../../adapters/aws/client.ts';
import type { AuditEvent } from '../../src/audit/audit.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE } from '../../src/constants.ts';
import { DEFAULT_CREDENTIALS } from '../emulators/sts/index.ts';
import type { AwsSandboxPlatform } from '../../sandbox/platforms/aws.ts';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

/** POST /token from a chosen loopback source address. */
function postFrom(
  bridge: string,
  fields: Record<string, string>,
  localAddress = '127.0.0.1',
  headers: Record<string, string> = {},
): Promise<Answer> {
  const url = new URL('/token', bridge);
  const body = new URLSearchParams({ grant_type: GRANT_TYPE_TOKEN_EXCHANGE, ...fields }).toString();
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        localAddress,
        agent: false,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(body),
          ...headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: JSON.parse(text) as Record<string, unknown>,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Every sandbox here counts in one pinned minute, so no window turns in the middle of a test. */
const pinned = Math.floor(Date.now() / 1000);
const clock = () => pinned;

let sb: Sandbox;
let aws: AwsSandboxPlatform;
const audit: AuditEvent[] = [];

/**
 * Proof i is signed at second `pinned - i`: distinct i give distinct X-Amz-Date seconds (and so
 * distinct proofs) however slowly the machine runs; SigV4 dates have one-second resolution, so
 * "now minus i seconds" read at different moments could coincide and turn a proof into a cache hit.
 */
/** A distinct, validly signed GetCallerIdentity from a principal that no sandbox rule names. */
const strangerProof = (i: number) =>
  signGetCallerIdentityProof({
    credentials: DEFAULT_CREDENTIALS.otherAccount,
    audience: sb.url,
    region: 'us-east-1',
    signingDate: new Date((pinned - i) * 1000),
  });
const awsFields = async (i: number) => ({
  subject_token: await strangerProof(i),
  subject_token_type: TOKEN_TYPE.aws4Request,
  resource: SANDBOX.graph,
});

beforeAll(async () => {
  sb = await startSandbox({
    port: 0,
    clock,
    audit: (e) => audit.push(e),
    overrides: { BRIDGE_CLIENT_RATE_LIMIT_PER_MINUTE: '5', BRIDGE_ISSUER_RATE_LIMIT_PER_MINUTE: '8' },
  });
  aws = sb.platforms.find((p) => p.name === 'aws') as AwsSandboxPlatform;
});
afterAll(async () => sb?.close());
beforeEach(() => {
  audit.length = 0;
  aws.emulator.resetCalls();
});

describe('admission before verification (issue 8 item 11)', () => {
  it('issue 8 item 11: distinct AWS proofs from a principal no rule names stop reaching STS at the per-address limit (client_rate_limited)', async () => {
    const answers: Answer[] = [];
    for (let i = 0; i < 8; i++) answers.push(await postFrom(sb.url, await awsFields(i), '127.0.0.1'));
    expect(answers.slice(0, 5).map((a) => a.status)).toEqual([400, 400, 400, 400, 400]);
    expect(audit.slice(0, 5).map((e) => e.reason)).toEqual(Array(5).fill('no_rule_matches'));
    for (const a of answers.slice(5)) {
      expect(a.status).toBe(429);
      expect(a.body.error).toBe('temporarily_unavailable');
      expect(Number(a.headers['retry-after'])).toBeGreaterThan(0);
      expect(a.headers['cache-control']).toBe('no-store');
    }
    expect(audit.slice(5).map((e) => e.reason)).toEqual(Array(3).fill('client_rate_limited'));
    expect(audit[0]!.client).toBe('127.0.0.1');
    expect(aws.emulator.count('GetCallerIdentity')).toBe(5);
  });

  it('issue 8 item 11: a client at another address keeps being served while the first is over its limit, until the issuer budget is spent (issuer_rate_limited)', async () => {
    // 127.0.0.1 spent its 5 verifications above; 127.0.0.2 has its own budget, the issuer (STS) 8 in all.
    expect((await postFrom(sb.url, await awsFields(20), '127.0.0.1')).status).toBe(429);
    const other: number[] = [];
    for (let i = 0; i < 4; i++) other.push((await postFrom(sb.url, await awsFields(30 + i), '127.0.0.2')).status);
    expect(other).toEqual([400, 400, 400, 429]);
    expect(audit.map((e) => e.reason)).toEqual([
      'client_rate_limited',
      'no_rule_matches',
      'no_rule_matches',
      'no_rule_matches',
      'issuer_rate_limited',
    ]);
    expect(aws.emulator.count('GetCallerIdentity')).toBe(3);
  });

  it('issue 8 item 11: X-Forwarded-For from a client is not believed without trusted proxies', async () => {
    const res = await postFrom(sb.url, await awsFields(40), '127.0.0.1', { 'x-forwarded-for': '198.51.100.77' });
    expect(res.status).toBe(429);
    expect(audit.at(-1)).toMatchObject({ reason: 'client_rate_limited', client: '127.0.0.1' });
  });

  it('a proof answered from the verified-proof cache costs no verification and is not counted', async () => {
    const fresh = await startSandbox({
      port: 0,
      clock,
      audit: () => {},
      overrides: { BRIDGE_CLIENT_RATE_LIMIT_PER_MINUTE: '1' },
    });
    try {
      const proof = await fresh.gcp.emulator.mintIdToken({ audience: fresh.url, format: 'full' });
      const fields = { subject_token: proof, subject_token_type: TOKEN_TYPE.idToken, resource: SANDBOX.graph };
      expect((await postFrom(fresh.url, fields)).status).toBe(200);
      expect((await postFrom(fresh.url, fields)).status).toBe(200);
    } finally {
      await fresh.close();
    }
  });
});

describe('one credential is bounded from any address (issue 8 item 11)', () => {
  it('issue 8 item 11: freshly signed proofs of one AWS credential stop reaching STS at the per-credential limit, whichever address sends them (credential_rate_limited)', async () => {
    const limited = await startSandbox({
      port: 0,
      clock,
      audit: (e) => audit.push(e),
      overrides: { BRIDGE_CREDENTIAL_RATE_LIMIT_PER_MINUTE: '3' },
    });
    const limitedAws = limited.platforms.find((p) => p.name === 'aws') as AwsSandboxPlatform;
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const subject_token = await signGetCallerIdentityProof({
          credentials: DEFAULT_CREDENTIALS.otherAccount,
          audience: limited.url,
          region: 'us-east-1',
          signingDate: new Date((pinned - i) * 1000),
        });
        statuses.push(
          (
            await postFrom(
              limited.url,
              { subject_token, subject_token_type: TOKEN_TYPE.aws4Request, resource: SANDBOX.graph },
              `127.0.0.${i + 1}`,
            )
          ).status,
        );
      }
      expect(statuses).toEqual([400, 400, 400, 429, 429]);
      expect(audit.slice(-2).map((e) => e.reason)).toEqual(['credential_rate_limited', 'credential_rate_limited']);
      expect(limitedAws.emulator.count('GetCallerIdentity')).toBe(3);
    } finally {
      await limited.close();
    }
  });
});

describe('concurrent verifications are capped (issue 8 item 11)', () => {
  it('issue 8 item 11: with every verification slot held by a slow STS, the next proof is refused 503 verification_busy with Retry-After, not queued', async () => {
    const capped = await startSandbox({
      port: 0,
      clock,
      audit: (e) => audit.push(e),
      overrides: { BRIDGE_MAX_CONCURRENT_VERIFICATIONS: '2' },
    });
    const cappedAws = capped.platforms.find((p) => p.name === 'aws') as AwsSandboxPlatform;
    try {
      const fields = async (i: number) => ({
        subject_token: await signGetCallerIdentityProof({
          credentials: DEFAULT_CREDENTIALS.otherAccount,
          audience: capped.url,
          region: 'us-east-1',
          signingDate: new Date((pinned - i) * 1000),
        }),
        subject_token_type: TOKEN_TYPE.aws4Request,
        resource: SANDBOX.graph,
      });
      const proofs = await Promise.all([0, 1, 2].map(fields));
      cappedAws.emulator.setFault({ kind: 'delay', ms: 1500 });
      const held = [postFrom(capped.url, proofs[0]!), postFrom(capped.url, proofs[1]!)];
      // Wait until both have reached STS (bounded: the delay keeps them there).
      for (let i = 0; i < 100 && capped.deps.admission.inFlight() < 2; i++) await new Promise((r) => setTimeout(r, 10));
      expect(capped.deps.admission.inFlight()).toBe(2);
      const busy = await postFrom(capped.url, proofs[2]!);
      expect(busy.status).toBe(503);
      expect(busy.body.error).toBe('temporarily_unavailable');
      expect(Number(busy.headers['retry-after'])).toBeGreaterThan(0);
      expect(audit.at(-1)?.reason).toBe('verification_busy');
      cappedAws.emulator.setFault(undefined);
      expect((await Promise.all(held)).map((a) => a.status)).toEqual([400, 400]);
      expect(cappedAws.emulator.count('GetCallerIdentity')).toBe(2);
    } finally {
      await capped.close();
    }
  });
});
