/**
 * The credential's Test button (issue 14 item 1): local checks of the key, instance id and bridge
 * URL, then a dry run at the bridge's POST /explain, each answer mapped to n8n's credential-test
 * result with a message that says what to fix. Run against the sandbox bridge over real HTTP,
 * through the helper n8n 2.40 gives a credential test function (n8n-context.ts).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateInstanceKey } from '../../../adapters/n8n/keygen.ts';
import type { AuditEvent } from '../../../src/audit/audit.ts';
import { startSandbox, type Sandbox } from '../../../sandbox/sandbox.ts';
import {
  credentialTestContext,
  loadNodePackage,
  type CredentialTestModule,
  type ICredentialsDecrypted,
  type ICredentialTestFunctions,
  type INodeCredentialTestResult,
  type INodeType,
  type LegacyRequestCall,
  type NodePackage,
} from './n8n-context.ts';

let sb: Sandbox;
let pkg: NodePackage;
let ct: CredentialTestModule;
let nodeType: INodeType;
let m: { instanceId: string; workflowId: string; privateJwk: Record<string, string>; kid: string };
const audit: AuditEvent[] = [];

beforeAll(async () => {
  [sb, pkg] = await Promise.all([startSandbox({ port: 0, audit: (e) => audit.push(e) }), loadNodePackage()]);
  ct = pkg.credentialTest;
  nodeType = new pkg.EntraAgentToken();
  m = sb.manifest.n8n as typeof m;
});
afterAll(() => sb?.close());

function fields(over: Record<string, string> = {}): Record<string, string> {
  return { bridgeUrl: sb.url, instanceId: m.instanceId, privateKey: JSON.stringify(m.privateJwk), ...over };
}

/** Press the Test button: n8n calls the node's credentialTest method named by the credential's testedBy. */
async function pressTest(
  data: Record<string, string>,
  calls: LegacyRequestCall[] = [],
): Promise<INodeCredentialTestResult> {
  const testedBy = nodeType.description.credentials?.find((c) => c.name === 'entraAgentTokenApi')?.testedBy;
  expect(typeof testedBy).toBe('string');
  const fn = nodeType.methods?.credentialTest?.[testedBy as string];
  expect(fn).toBeTypeOf('function');
  const credential: ICredentialsDecrypted = { id: 'cred-1', name: 'Bridge', type: 'entraAgentTokenApi', data };
  return await fn!.call(credentialTestContext(calls) as ICredentialTestFunctions, credential);
}

const fieldProblem = (raw: Record<string, unknown>) => {
  const r = ct.checkCredentialFields(raw);
  return 'problem' in r ? `${r.field}: ${r.problem}` : undefined;
};

describe('issue 14 item 1: local checks of the credential', () => {
  it('issue 14 item 1: the sandbox JWK and keygen PEMs (ES256 and EdDSA) pass', async () => {
    expect(fieldProblem(fields())).toBeUndefined();
    for (const alg of ['ES256', 'EdDSA'] as const) {
      const k = await generateInstanceKey('any', alg);
      expect(fieldProblem(fields({ privateKey: k.privateKeyPem }))).toBeUndefined();
      // Pasted into a single-line field, a PEM's line breaks become "\n".
      expect(fieldProblem(fields({ privateKey: k.privateKeyPem.replace(/\n/g, '\\n') }))).toBeUndefined();
    }
  });

  it('issue 14 item 1: "not a key at all" is named as not a key', () => {
    expect(fieldProblem(fields({ privateKey: 'not a key at all' }))).toBe(
      'Private Key: it is not a key. Paste the PEM that "npm run n8n:keygen" printed ("-----BEGIN PRIVATE KEY-----" …) or a private JWK (JSON with "kty", "crv" and "d")',
    );
    expect(fieldProblem(fields({ privateKey: '   ' }))).toBe('Private Key: it is empty');
    expect(fieldProblem(fields({ privateKey: '{"kty":' }))).toMatch(
      /^Private Key: it starts with "\{" but is not valid JSON/,
    );
    expect(
      fieldProblem(fields({ privateKey: '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----' })),
    ).toMatch(/^Private Key: it looks like a PEM but could not be read as a private key/);
  });

  it('issue 14 item 1: a public key pasted as the private key is named as a public key (PEM and JWK)', async () => {
    const k = await generateInstanceKey('any');
    const publicPem = createPublicKey(createPrivateKey(k.privateKeyPem)).export({ type: 'spki', format: 'pem' });
    expect(fieldProblem(fields({ privateKey: String(publicPem) }))).toMatch(
      /^Private Key: it is a public key; paste the PRIVATE key/,
    );
    const { d: _d, ...publicJwk } = m.privateJwk;
    expect(fieldProblem(fields({ privateKey: JSON.stringify(publicJwk) }))).toMatch(
      /^Private Key: it is a public JWK \(it has no "d" member\); paste the PRIVATE key/,
    );
  });

  it('issue 14 item 1: a key of an algorithm the bridge does not allow is named by its type', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' });
    expect(fieldProblem(fields({ privateKey: String(rsa) }))).toMatch(
      /^Private Key: it is an RSA key; the bridge accepts EC P-256 \(ES256\) or Ed25519 \(EdDSA\) instance keys only/,
    );
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'pem', type: 'pkcs8' });
    expect(fieldProblem(fields({ privateKey: String(p384) }))).toMatch(
      /^Private Key: it is an EC key on curve secp384r1;/,
    );
    const p384Jwk = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'jwk' });
    expect(fieldProblem(fields({ privateKey: JSON.stringify(p384Jwk) }))).toMatch(
      /^Private Key: it is a JWK on curve "P-384";/,
    );
  });

  it('issue 14 item 1: a JWK whose kid is not its RFC 7638 thumbprint, or whose x/y are another key, is refused', async () => {
    const other = createPublicKey(createPrivateKey((await generateInstanceKey('any')).privateKeyPem)).export({
      format: 'jwk',
    });
    expect(fieldProblem(fields({ privateKey: JSON.stringify({ ...m.privateJwk, kid: 'my-key-1' }) }))).toMatch(
      new RegExp(`^Private Key: its "kid" is not the RFC 7638 thumbprint of the key \\(${m.kid}\\)`),
    );
    expect(fieldProblem(fields({ privateKey: JSON.stringify({ ...m.privateJwk, x: other.x, y: other.y }) }))).toBe(
      'Private Key: its public members ("x", "y") are not the public half of its "d": the JWK mixes two keys',
    );
  });

  it('issue 14 item 1: an encrypted PEM is named as encrypted', () => {
    const encrypted = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      format: 'pem',
      type: 'pkcs8',
      cipher: 'aes-256-cbc',
      passphrase: 'secret',
    });
    expect(fieldProblem(fields({ privateKey: String(encrypted) }))).toMatch(/^Private Key: it is an encrypted PEM;/);
  });

  it('issue 14 item 1: instance id and bridge URL problems name the field', () => {
    expect(fieldProblem(fields({ instanceId: 'has:colon' }))).toMatch(/^Instance ID: it must be 1-128 letters/);
    expect(fieldProblem(fields({ instanceId: '' }))).toBe('Instance ID: it is empty');
    expect(fieldProblem(fields({ bridgeUrl: 'bridge.example.com' }))).toMatch(/^Bridge URL: it is not a URL/);
    expect(fieldProblem(fields({ bridgeUrl: 'ftp://bridge.example.com' }))).toMatch(
      /^Bridge URL: it must start with https:\/\//,
    );
    expect(fieldProblem(fields({ bridgeUrl: 'https://bridge.example.com/token' }))).toMatch(
      /^Bridge URL: it ends in \/token; enter the issuer URL without it/,
    );
  });
});

describe('issue 14 item 1: the Test button asks the bridge for a dry run', () => {
  it('issue 14 item 1: the credential no longer tests with GET /readyz; the node names its credentialTest method', () => {
    const credential = new pkg.EntraAgentTokenApi();
    expect(credential.test).toBeUndefined();
    expect(nodeType.description.credentials).toEqual([
      { name: 'entraAgentTokenApi', required: true, testedBy: 'entraAgentTokenApiTest' },
    ]);
  });

  it('issue 14 item 1: valid instance and key: OK, through POST /explain, spending nothing and issuing nothing', async () => {
    const calls: LegacyRequestCall[] = [];
    const before = audit.length;
    const result = await pressTest(fields(), calls);
    expect(result).toEqual({
      status: 'OK',
      message: `The bridge at ${sb.url} accepts instance "${m.instanceId}" with this key (kid ${m.kid}). Dry run: no token was issued. Which workflows may get tokens is up to the bridge policy's rules.`,
    });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.options).toMatchObject({
      method: 'POST',
      uri: `${sb.url}/explain`,
      simple: false,
      followRedirect: false,
      resolveWithFullResponse: true,
    });
    const events = audit.slice(before);
    expect(events.map((e) => [e.route, e.outcome])).toEqual([['/explain', 'explained']]);
    expect(events[0]!.principal).toBe(`n8n:${m.instanceId}:workflow:credential-test`);
    // The dry run never reached the replay store's write side: the same jti would still be usable.
    const jti = new URLSearchParams(String(calls[0]!.options.body)).get('subject_token')!.split('.')[1];
    const claims = JSON.parse(Buffer.from(jti!, 'base64url').toString()) as { jti: string };
    expect(await sb.deps.replay.isUsed(`n8n:n8n:${m.instanceId}:${claims.jti}`)).toBe(false);
  });

  it('issue 14 item 1: unregistered instance: says either the instance or the key is not registered, and why the bridge does not say which', async () => {
    const result = await pressTest(fields({ instanceId: 'ghost-instance' }));
    expect(result.status).toBe('Error');
    expect(result.message).toMatch(
      new RegExp(
        `^The bridge does not accept instance "ghost-instance" with this key \\(kid ${m.kid}\\): either the instance is not registered in the bridge policy \\(platforms\\.n8n\\.instances\\), or this key is not registered for it\\.`,
      ),
    );
    expect(result.message).toContain('so as not to reveal which instances exist');
    expect(result.message).toMatch(/\(bridge request id [0-9a-f-]{36}\)$/);
    expect(audit.findLast((e) => e.route === '/explain')?.reason).toBe('proof_untrusted_issuer');
  });

  it('issue 14 item 1: wrong key (another registered-format key) for a registered instance: the same answer, naming the kid', async () => {
    const stranger = await generateInstanceKey(m.instanceId);
    const result = await pressTest(fields({ privateKey: stranger.privateKeyPem }));
    expect(result.status).toBe('Error');
    expect(result.message).toMatch(
      new RegExp(
        `^The bridge does not accept instance "${m.instanceId}" with this key \\(kid ${stranger.kid}\\): either`,
      ),
    );
    expect(result.message).toContain(
      `platforms.n8n.instances.${m.instanceId}.keys holds the public key with kid ${stranger.kid}`,
    );
    expect(audit.findLast((e) => e.route === '/explain')?.reason).toBe('proof_unknown_key');
    expect(result.message).not.toContain(stranger.privateKeyPem.split('\n')[1]!);
  });

  it('issue 14 item 1: a public key or "not a key at all": refused locally, nothing is sent', async () => {
    const calls: LegacyRequestCall[] = [];
    const { d: _d, ...publicJwk } = m.privateJwk;
    const pub = await pressTest(fields({ privateKey: JSON.stringify(publicJwk) }), calls);
    expect(pub).toEqual({
      status: 'Error',
      message:
        'Private Key: it is a public JWK (it has no "d" member); paste the PRIVATE key (what "npm run n8n:keygen" wrote to stdout); only its public half is registered with the bridge',
    });
    const junk = await pressTest(fields({ privateKey: 'not a key at all' }), calls);
    expect(junk.message).toMatch(/^Private Key: it is not a key\./);
    expect(calls).toHaveLength(0);
  });

  it('issue 14 item 1: wrong bridge URL, connection refused: names host and port, not a bare ECONNREFUSED', async () => {
    const closed = await listen((_req, res) => res.end());
    const url = closed.url;
    await new Promise((r) => closed.server.close(r));
    const result = await pressTest(fields({ bridgeUrl: url }));
    expect(result).toEqual({
      status: 'Error',
      message: `Bridge URL: nothing is listening at ${new URL(url).host} (connection refused). Check the host and port, and that the bridge is running and reachable from this n8n host.`,
    });
  });

  it('issue 14 item 1: wrong bridge URL, a server that is not the bridge (404): says it is not an issuer URL', async () => {
    const other = await listen((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<h1>Not Found</h1>');
    });
    try {
      const result = await pressTest(fields({ bridgeUrl: other.url }));
      expect(result.message).toBe(
        `Bridge URL: nothing at ${other.url} answers POST /explain (HTTP 404 Not Found), so it is not an agent-id-bridge issuer URL. Use the issuer URL the bridge operator gave you, e.g. https://bridge.example.com.`,
      );
    } finally {
      await new Promise((r) => other.server.close(r));
    }
  });

  it('issue 14 item 1: wrong bridge URL, the bridge with a path after the host: says to remove the path', async () => {
    const result = await pressTest(fields({ bridgeUrl: `${sb.url}/v1` }));
    expect(result.message).toMatch(
      new RegExp(
        `^Bridge URL: ${sb.url}/v1 is an agent-id-bridge, but not its issuer URL: it has no /v1/explain route\\.`,
      ),
    );
  });

  it("issue 14 item 1: the bridge under another name than its issuer URL: names the issuer URL from the bridge's public hint", async () => {
    const alias = sb.url.replace('127.0.0.1', 'localhost');
    const result = await pressTest(fields({ bridgeUrl: alias }));
    expect(result.message).toMatch(
      new RegExp(
        `^Bridge URL: the bridge knows instance "${m.instanceId}" and this key, but its issuer URL is ${sb.url}, not ${alias}\\. Set Bridge URL to exactly ${sb.url}`,
      ),
    );
  });

  it('issue 14 item 1: clock skew: says how far and which way the host clock is off', async () => {
    const probe = legacyProbe();
    const ahead = await ct.testCredential(fields(), probe, () => Date.now() + 5 * 60_000);
    expect(ahead.status).toBe('Error');
    expect(ahead.message).toMatch(
      /^This n8n host's clock is about (29\d|30\d) s ahead of the bridge's; the bridge accepts at most 60 s\. Correct the host's time \(NTP\)\./,
    );
    const behind = await ct.testCredential(fields(), probe, () => Date.now() - 10 * 60_000);
    expect(behind.message).toMatch(/^This n8n host's clock is about (59\d|60\d) s behind the bridge's;/);
    // With an unregistered instance the bridge says nothing about times; the Date header still tells.
    const both = await ct.testCredential(
      fields({ instanceId: 'ghost-instance' }),
      probe,
      () => Date.now() + 5 * 60_000,
    );
    expect(both.message).toMatch(
      /^The bridge does not accept instance "ghost-instance".* Also: this n8n host's clock is about (29\d|30\d) s ahead/,
    );
  });

  it('issue 14 item 1: /explain turned off: says the credential cannot be checked, not that it is wrong', async () => {
    const off = await startSandbox({ port: 0, audit: () => {}, overrides: { BRIDGE_EXPLAIN: 'off' } });
    try {
      const n8n = off.manifest.n8n as typeof m;
      const result = await pressTest({
        bridgeUrl: off.url,
        instanceId: n8n.instanceId,
        privateKey: JSON.stringify(n8n.privateJwk),
      });
      expect(result.status).toBe('Error');
      expect(result.message).toMatch(/has its dry-run endpoint turned off \(BRIDGE_EXPLAIN=off\)/);
    } finally {
      await off.close();
    }
  });

  it('issue 14 item 1: DNS, timeout and TLS failures are each explained by name', () => {
    const coded = (code: string) => Object.assign(new Error('request failed'), { cause: { code } });
    expect(ct.unreachable('https://brigde.example.com', coded('ENOTFOUND'))).toMatch(
      /^Bridge URL: the host name brigde\.example\.com does not resolve \(DNS ENOTFOUND\)/,
    );
    expect(ct.unreachable('https://bridge.example.com', coded('ETIMEDOUT'))).toMatch(
      /no answer from bridge\.example\.com within 10 s/,
    );
    expect(ct.unreachable('https://bridge.example.com', coded('DEPTH_ZERO_SELF_SIGNED_CERT'))).toMatch(
      /the TLS certificate of bridge\.example\.com is not trusted/,
    );
    expect(ct.unreachable('https://bridge.example.com:8080', coded('EPROTO'))).toMatch(
      /Then the URL must start with http:\/\//,
    );
  });

  it('issue 14 item 1: no answer quotes the key or the assertion', async () => {
    const calls: LegacyRequestCall[] = [];
    const results = [
      await pressTest(fields(), calls),
      await pressTest(fields({ instanceId: 'ghost-instance' }), calls),
      await pressTest(fields({ bridgeUrl: `${sb.url}/v1` }), calls),
    ];
    const assertions = calls.map((c) => new URLSearchParams(String(c.options.body)).get('subject_token')!);
    for (const r of results) {
      expect(r.message).not.toContain(m.privateJwk.d!);
      for (const a of assertions) expect(r.message).not.toContain(a.split('.')[2]!);
    }
  });
});

function legacyProbe(): Parameters<CredentialTestModule['testCredential']>[1] {
  const ctx = credentialTestContext();
  return async (url, form, timeoutMs) =>
    (await ctx.helpers.request({
      method: 'POST',
      uri: url,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
      resolveWithFullResponse: true,
      simple: false,
      followRedirect: false,
      timeout: timeoutMs,
    })) as { statusCode: number; body: unknown; headers: Record<string, unknown> };
}

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
