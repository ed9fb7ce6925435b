/** Pure parts of the AWS adapter, one check at a time: hosts, ARNs, STS answers, dates, config. */
import { describe, expect, it } from 'vitest';
import { principalFromCallerArn, principalFromIamArn } from '../../../adapters/aws/arn.ts';
import { createAwsVerifiers } from '../../../adapters/aws/index.ts';
import { canonicalValue, parseAmzDate, parseAuthorization } from '../../../adapters/aws/sigv4.ts';
import { buildStsHostAllowList, regionalStsHost } from '../../../adapters/aws/sts-hosts.ts';
import { parseCallerIdentity, refusalFromStsError } from '../../../adapters/aws/sts-response.ts';
import { VerificationCache } from '../../../adapters/aws/verification-cache.ts';
import { buildVerifiers } from '../../../src/compose.ts';
import { loadConfig } from '../../../src/config/config.ts';
import { PLATFORMS } from '../../../src/platforms.ts';
import { AwsPlatformSchema, partitionOfRegion } from '../../../adapters/aws/config.ts';
import { generateSigningKeyJwk } from '../../../src/issuer/keys.ts';
import { createBoundedFetch } from '../../../src/net/bounded-fetch.ts';
import type { AdapterDeps } from '../../../src/verify/contract.ts';

const deps: AdapterDeps = { fetch: createBoundedFetch(), clock: () => 0 };
const ISSUER = 'https://abc123-def456.tokens.sts.global.api.aws';

describe('STS host allow-list', () => {
  it('lists the global host (partition aws, us-east-1) and the regional hosts of configured regions, nothing else', () => {
    const hosts = buildStsHostAllowList({
      partitions: ['aws'],
      regions: ['eu-west-1', 'us-east-1'],
      globalEndpoint: true,
    });
    expect([...hosts.keys()].sort()).toEqual([
      'sts.amazonaws.com',
      'sts.eu-west-1.amazonaws.com',
      'sts.us-east-1.amazonaws.com',
    ]);
    expect(hosts.get('sts.amazonaws.com')).toEqual({
      host: 'sts.amazonaws.com',
      region: 'us-east-1',
      partition: 'aws',
      global: true,
    });
    expect(hosts.get('sts.eu-west-1.amazonaws.com')).toMatchObject({ region: 'eu-west-1', global: false });
  });

  it('names China and GovCloud hosts per partition, and drops regions whose partition is not enabled', () => {
    const hosts = buildStsHostAllowList({
      partitions: ['aws-cn', 'aws-us-gov'],
      regions: ['cn-north-1', 'us-gov-west-1', 'eu-west-1'],
      globalEndpoint: true,
    });
    expect([...hosts.keys()].sort()).toEqual(['sts.cn-north-1.amazonaws.com.cn', 'sts.us-gov-west-1.amazonaws.com']);
    expect(hosts.get('sts.cn-north-1.amazonaws.com.cn')?.partition).toBe('aws-cn');
    expect(regionalStsHost('ap-southeast-5')).toBe('sts.ap-southeast-5.amazonaws.com');
    expect(() => regionalStsHost('moon-base-1')).toThrow(TypeError);
  });

  it('the global endpoint can be switched off', () => {
    expect([
      ...buildStsHostAllowList({ partitions: ['aws'], regions: ['us-east-1'], globalEndpoint: false }).keys(),
    ]).toEqual(['sts.us-east-1.amazonaws.com']);
  });

  it('knows which partition a region belongs to', () => {
    expect(
      [
        'us-east-1',
        'eu-central-2',
        'il-central-1',
        'cn-northwest-1',
        'us-gov-east-1',
        'xx-east-1',
        'us-east',
        'US-EAST-1',
      ].map(partitionOfRegion),
    ).toEqual(['aws', 'aws', 'aws', 'aws-cn', 'aws-us-gov', undefined, undefined, undefined]);
  });
});

describe('ARN normalisation', () => {
  it.each([
    [
      'arn:aws:sts::111122223333:assumed-role/Billing/alice',
      'arn:aws:iam::111122223333:role/Billing',
      { principal_type: 'role', role_name: 'Billing', session_name: 'alice' },
    ],
    [
      'arn:aws-cn:sts::111122223333:assumed-role/r/s@x.example',
      'arn:aws-cn:iam::111122223333:role/r',
      { partition: 'aws-cn', session_name: 's@x.example' },
    ],
    [
      'arn:aws:iam::111122223333:user/dev/ops/bob',
      'arn:aws:iam::111122223333:user/dev/ops/bob',
      { principal_type: 'user', user_name: 'bob', user_path: '/dev/ops/' },
    ],
  ])('GetCallerIdentity %s → %s', (arn, principal, attributes) => {
    const r = principalFromCallerArn(arn);
    expect(r).toMatchObject({ ok: true, value: { principal, account: '111122223333', attributes } });
  });

  it.each([
    'arn:aws:iam::111122223333:root',
    'arn:aws:sts::111122223333:federated-user/bob',
    'arn:aws:sts::111122223333:assumed-role/r',
    'arn:aws:sts::111122223333:assumed-role/r/s/extra',
    'arn:aws:iam::111122223333:role/r',
    'arn:aws:iam::11112222333:user/bob',
    'arn:aws-iso:sts::111122223333:assumed-role/r/s',
    'arn:aws:s3:::bucket',
    'not an arn',
  ])('GetCallerIdentity ARN %s is refused', (arn) => {
    expect(principalFromCallerArn(arn)).toMatchObject({ ok: false, reason: 'proof_claim' });
  });

  it('a web identity sub keeps its path as role_path only; the principal is the same as kind 1 gives', () => {
    expect(principalFromIamArn('arn:aws:iam::111122223333:role/service-role/agents/Billing')).toMatchObject({
      ok: true,
      value: {
        principal: 'arn:aws:iam::111122223333:role/Billing',
        attributes: { role_path: '/service-role/agents/', role_name: 'Billing' },
      },
    });
    expect(principalFromCallerArn('arn:aws:sts::111122223333:assumed-role/Billing/x')).toMatchObject({
      value: { principal: 'arn:aws:iam::111122223333:role/Billing' },
    });
    for (const bad of [
      'arn:aws:sts::111122223333:assumed-role/Billing/x',
      'arn:aws:iam::111122223333:role//x',
      'arn:aws:iam::111122223333:group/g',
    ]) {
      expect(principalFromIamArn(bad)).toMatchObject({ ok: false, reason: 'proof_claim' });
    }
  });
});

describe("STS's answers", () => {
  const endpoint = {
    host: 'sts.us-east-1.amazonaws.com',
    region: 'us-east-1',
    partition: 'aws',
    global: false,
  } as const;
  const xml = (inner: string) =>
    `<?xml version="1.0"?>\n<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>${inner}</GetCallerIdentityResult></GetCallerIdentityResponse>`;

  it('reads the XML and the JSON shape', () => {
    const fields =
      '<Arn>arn:aws:sts::111122223333:assumed-role/R/a&amp;b</Arn><UserId>AROAXXXXXXXXXXXXXXXXX:a</UserId><Account>111122223333</Account>';
    expect(parseCallerIdentity('text/xml', xml(fields))).toEqual({
      ok: true,
      value: {
        arn: 'arn:aws:sts::111122223333:assumed-role/R/a&b',
        userId: 'AROAXXXXXXXXXXXXXXXXX:a',
        account: '111122223333',
      },
    });
    const json = JSON.stringify({
      GetCallerIdentityResponse: {
        GetCallerIdentityResult: {
          Arn: 'arn:aws:iam::111122223333:user/u',
          UserId: 'AIDAXXXXXXXXXXXXXXXXX',
          Account: '111122223333',
        },
      },
    });
    expect(parseCallerIdentity('application/json', json)).toMatchObject({
      ok: true,
      value: { arn: 'arn:aws:iam::111122223333:user/u' },
    });
  });

  it('refuses ambiguous or incomplete answers', () => {
    const two =
      '<Arn>arn:aws:iam::111122223333:user/a</Arn><Arn>arn:aws:iam::111122223333:user/b</Arn><UserId>AIDAXXXXXXXXXXXXXXXXX</UserId><Account>111122223333</Account>';
    expect(parseCallerIdentity('text/xml', xml(two))).toMatchObject({ ok: false, reason: 'verifier_unavailable' });
    expect(parseCallerIdentity('text/xml', '<html>login</html>')).toMatchObject({
      ok: false,
      reason: 'verifier_unavailable',
    });
    expect(parseCallerIdentity('application/json', '{"GetCallerIdentityResponse":{}}')).toMatchObject({
      ok: false,
      reason: 'verifier_unavailable',
    });
    expect(
      parseCallerIdentity('text/xml', xml('<Arn>a</Arn><UserId>AIDAXXXXXXXXXXXXXXXXX</UserId><Account>12</Account>')),
    ).toMatchObject({ ok: false, reason: 'proof_claim' });
  });

  it('reads error codes from XML and JSON, and never echoes more than one bounded line', () => {
    const xmlErr =
      '<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message></Error></ErrorResponse>';
    expect(refusalFromStsError(403, 'text/xml', xmlErr, endpoint)).toMatchObject({
      reason: 'proof_expired',
      detail: expect.stringContaining('403 ExpiredToken'),
    });
    const jsonErr = JSON.stringify({ Error: { Code: 'InvalidClientTokenId', Message: 'x'.repeat(5000) } });
    const r = refusalFromStsError(403, 'application/json', jsonErr, endpoint);
    expect(r).toMatchObject({ reason: 'proof_rejected_upstream' });
    expect(r.detail.length).toBeLessThan(600);
    expect(refusalFromStsError(502, 'text/html', '<html/>', endpoint)).toMatchObject({
      reason: 'verifier_unavailable',
      detail: expect.stringContaining('502 Unknown'),
    });
    expect(refusalFromStsError(403, 'text/xml', xmlErr.replace('ExpiredToken', '<script>'), endpoint).detail).toContain(
      'Unknown',
    );
  });

  it('turns the region-scope SignatureDoesNotMatch into advice, with or without the region STS names', () => {
    const err = (m: string) =>
      `<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>${m}</Message></Error></ErrorResponse>`;
    expect(
      refusalFromStsError(
        403,
        'text/xml',
        err("Credential should be scoped to a valid region, not 'eu-west-1'. "),
        endpoint,
      ).detail,
    ).toContain(
      'sign for https://sts.us-east-1.amazonaws.com/ with region us-east-1, or, to keep region eu-west-1, sign for its regional endpoint',
    );
    expect(
      refusalFromStsError(403, 'text/xml', err('Credential should be scoped to a valid region.'), endpoint),
    ).toMatchObject({ reason: 'proof_signature' });
    expect(
      refusalFromStsError(
        403,
        'text/xml',
        err('Signature expired: 20260101T000000Z is now earlier than 20260101T001500Z'),
        endpoint,
      ),
    ).toMatchObject({ reason: 'proof_expired' });
  });
});

describe('SigV4 header parsing', () => {
  it('parses x-amz-date strictly', () => {
    expect(parseAmzDate('20270115T103000Z')).toBe(Date.UTC(2027, 0, 15, 10, 30, 0) / 1000);
    for (const bad of [
      '20270230T000000Z',
      '20271301T000000Z',
      '20270115T250000Z',
      '2027-01-15T10:30:00Z',
      '20270115T103000',
      '',
    ])
      expect(parseAmzDate(bad)).toBeUndefined();
  });

  it('parses the Authorization header and refuses anything but AWS4-HMAC-SHA256 for sts', () => {
    const sig = 'a'.repeat(64);
    expect(
      parseAuthorization(
        `AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEEXAMPLE12/20270115/eu-west-1/sts/aws4_request,SignedHeaders=host;x-amz-date,Signature=${sig}`,
      ),
    ).toMatchObject({
      ok: true,
      value: {
        accessKeyId: 'AKIAEXAMPLEEXAMPLE12',
        scopeDate: '20270115',
        scopeRegion: 'eu-west-1',
        signedHeaders: ['host', 'x-amz-date'],
      },
    });
    expect(
      parseAuthorization(
        `AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEEXAMPLE12/20270115/eu-west-1/sts/aws4_request, SignedHeaders=host;host, Signature=${sig}`,
      ),
    ).toMatchObject({ ok: false });
    expect(
      parseAuthorization(
        `AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEEXAMPLE12/20270115/eu-west-1/sts/aws4_request, SignedHeaders=host;;x-amz-date, Signature=${sig}`,
      ),
    ).toMatchObject({ ok: false });
    expect(
      parseAuthorization(
        `AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEEXAMPLE12/20270115/eu-west-1/sts/aws4_request, SignedHeaders=host, Signature=${sig}, SignedHeaders=x`,
      ),
    ).toMatchObject({ ok: false });
    expect(canonicalValue('  a   b ')).toBe('a b');
  });
});

describe('verification cache', () => {
  it('keeps at most maxEntries, dropping expired then oldest entries', async () => {
    const cache = new VerificationCache<number>(2);
    const load = (v: number, exp: number) => async () => ({ ok: true as const, value: v, expiresAt: exp });
    await cache.get('a', 0, load(1, 10));
    await cache.get('b', 0, load(2, 100));
    await cache.get('c', 20, load(3, 100));
    expect(cache.size).toBe(2);
    expect(await cache.get('b', 20, load(99, 100))).toMatchObject({ hit: true, value: 2 });
    expect(await cache.get('a', 20, load(4, 100))).toMatchObject({ hit: false, value: 4 });
  });

  it('shares one STS call among concurrent identical proofs, reports the sharers as hits, and never caches a refusal', async () => {
    const cache = new VerificationCache<number>(10);
    let calls = 0;
    let release!: () => void;
    const answered = new Promise<void>((r) => (release = r));
    const slow = async () => {
      calls++;
      await answered;
      return { ok: true as const, value: 7, expiresAt: 100 };
    };
    const waiting = Array.from({ length: 5 }, () => cache.get('k', 0, slow));
    release();
    const outcomes = await Promise.all(waiting);
    expect(calls).toBe(1);
    expect(outcomes.map((o) => o.hit)).toEqual([false, true, true, true, true]);
    const refusal = async () => ({ ok: false as const, result: 'refused' });
    expect(await cache.get('r', 0, refusal)).toEqual({ hit: false, ok: false, result: 'refused' });
    expect(cache.size).toBe(1);
  });
});

describe('platforms.aws configuration', () => {
  const parse = (v: unknown) => AwsPlatformSchema.safeParse(v);
  const messages = (v: unknown) => {
    const r = parse(v);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('accepts an empty section (global endpoint only) and a full one', () => {
    expect(parse({}).success).toBe(true);
    expect(
      parse({
        partitions: ['aws', 'aws-cn'],
        regions: ['eu-west-1', 'cn-north-1'],
        globalEndpoint: false,
        maxRequestAgeSec: 300,
        stsTimeoutMs: 2000,
        webIdentityIssuers: [{ account: '111122223333', issuer: ISSUER }],
      }).success,
    ).toBe(true);
  });

  it('names the option of each mistake', () => {
    expect(messages({ regions: ['cn-north-1'] })).toEqual([
      expect.stringMatching(/^regions\.0: region cn-north-1 is in partition aws-cn/),
    ]);
    expect(messages({ regions: ['eu-west-1 '] })[0]).toMatch(/^regions\.0: must be an AWS region name/);
    expect(messages({ partitions: ['aws-cn'], globalEndpoint: true })[0]).toMatch(/^globalEndpoint: /);
    expect(messages({ maxRequestAgeSec: 3600 })[0]).toMatch(/^maxRequestAgeSec: /);
    expect(messages({ webIdentityIssuers: [{ account: '1', issuer: ISSUER }] })[0]).toMatch(
      /^webIdentityIssuers\.0\.account: must be a 12-digit/,
    );
    expect(messages({ webIdentityIssuers: [{ account: '111122223333', issuer: 'https://evil.example' }] })[0]).toMatch(
      /^webIdentityIssuers\.0\.issuer: must be https:\/\/<id>\.tokens/,
    );
    expect(messages({ webIdentityIssuers: [{ account: '111122223333', issuer: `${ISSUER}/` }] })[0]).toMatch(
      /^webIdentityIssuers\.0\.issuer/,
    );
    expect(messages({ signedGetCallerIdentity: false })[0]).toMatch(
      /^webIdentityIssuers: with signedGetCallerIdentity false/,
    );
    expect(messages({ unknown: 1 })).toHaveLength(1);
  });

  it('takes an STS endpoint override only as a loopback origin', () => {
    expect(parse({ stsEndpointOverride: 'http://127.0.0.1:8790' }).success).toBe(true);
    for (const bad of [
      'https://sts.amazonaws.com',
      'http://127.0.0.1:8790/',
      'http://127.0.0.1:8790/x',
      'http://user@127.0.0.1:1',
      'http://169.254.169.254',
      'file:///etc/passwd',
    ]) {
      expect(messages({ stsEndpointOverride: bad })[0]).toMatch(/^stsEndpointOverride: must be a loopback origin/);
    }
  });

  it('refuses the sandbox-only settings when the bridge does not allow insecure loopback', () => {
    expect(() =>
      createAwsVerifiers({ stsEndpointOverride: 'http://127.0.0.1:8790' }, deps, { allowInsecureLoopback: false }),
    ).toThrow(/platforms\.aws\.stsEndpointOverride: accepted only in the sandbox/);
    expect(() =>
      createAwsVerifiers(
        { webIdentityIssuers: [{ account: '111122223333', issuer: 'http://127.0.0.1:9/issuers/x' }] },
        deps,
        { allowInsecureLoopback: false },
      ),
    ).toThrow(/webIdentityIssuers\[0\]\.issuer: a loopback issuer/);
    expect(
      createAwsVerifiers({ webIdentityIssuers: [{ account: '111122223333', issuer: ISSUER }] }, deps, {
        allowInsecureLoopback: false,
      }),
    ).toHaveLength(2);
    expect(
      createAwsVerifiers(
        { signedGetCallerIdentity: false, webIdentityIssuers: [{ account: '111122223333', issuer: ISSUER }] },
        deps,
        { allowInsecureLoopback: false },
      ),
    ).toHaveLength(1);
  });

  it('a production bridge with an STS endpoint override in its policy does not start', async () => {
    const policy = {
      version: 1,
      tenants: [
        {
          tenantId: '11111111-1111-4111-8111-111111111111',
          blueprints: [
            { appId: '22222222-2222-4222-8222-222222222222', agents: [{ id: '33333333-3333-4333-8333-333333333333' }] },
          ],
        },
      ],
      platforms: { aws: { stsEndpointOverride: 'http://127.0.0.1:8790' } },
      rules: [
        {
          name: 'r',
          platform: 'aws',
          principal: 'arn:aws:iam::111122223333:role/r',
          agent: '33333333-3333-4333-8333-333333333333',
          resources: ['https://graph.microsoft.com'],
        },
      ],
    };
    const env = {
      BRIDGE_ISSUER: 'https://bridge.example.com',
      BRIDGE_SIGNING_KEY: await generateSigningKeyJwk(),
      BRIDGE_POLICY: JSON.stringify(policy),
    };
    expect(() => loadConfig(env, { platforms: PLATFORMS })).toThrow(/stsEndpointOverride/);
    const sandbox = loadConfig(
      { ...env, ENTRA_AUTHORITY_HOST: 'http://127.0.0.1:9' },
      { platforms: PLATFORMS, mode: 'sandbox' },
    );
    expect(() => buildVerifiers({ ...sandbox, allowInsecureLoopback: false }, deps)).toThrow(/stsEndpointOverride/);
    expect(buildVerifiers(sandbox, deps).map((v) => v.platform)).toEqual(['aws']);
  });
});
