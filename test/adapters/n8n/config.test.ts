import { describe, expect, it } from 'vitest';
import { generateInstanceKey, policySnippet } from '../../../adapters/n8n/keygen.ts';
import { buildVerifiers } from '../../../src/compose.ts';
import { loadConfig } from '../../../src/config/config.ts';
import { N8nPlatformSchema, type N8nPlatformConfig } from '../../../adapters/n8n/config.ts';
import { PLATFORMS } from '../../../src/platforms.ts';
import { generateSigningKeyJwk } from '../../../src/issuer/keys.ts';
import { createBoundedFetch } from '../../../src/net/bounded-fetch.ts';
import { parse as parseYaml } from 'yaml';

const EC = {
  kty: 'EC',
  crv: 'P-256',
  x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
  y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
};
const OKP = { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' };

function problems(value: unknown): string[] {
  const r = N8nPlatformSchema.safeParse(value);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('platforms.n8n schema', () => {
  it('accepts inline EC P-256 and Ed25519 public keys, a JWKS URL, and a clock skew of 0-60 s', () => {
    expect(
      problems({
        instances: {
          'prod-eu': { keys: [EC, { ...OKP, alg: 'EdDSA', use: 'sig', kid: 'abc' }] },
          staging: { jwksUrl: 'https://n8n.example/jwks.json' },
        },
        clockSkewSec: 30,
      }),
    ).toEqual([]);
  });

  it('refuses a private JWK with a message that says what happened', () => {
    const p = problems({
      instances: { prod: { keys: [{ ...EC, d: 'jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI' }] } },
    });
    expect(p.join('\n')).toMatch(/instances\.prod\.keys\.0\.d: must not be present: register the PUBLIC key only/);
  });

  it.each([
    ['no instance', { instances: {} }, /register at least one instance/],
    [
      'both keys and jwksUrl',
      { instances: { a: { keys: [EC], jwksUrl: 'https://x.example/j' } } },
      /exactly one of "keys" or "jwksUrl"/,
    ],
    ['neither', { instances: { a: {} } }, /exactly one of "keys" or "jwksUrl"/],
    [
      'an instance id with ":" (it is part of iss and sub)',
      { instances: { 'a:b': { keys: [EC] } } },
      /instances\.a:b: Invalid key/,
    ],
    ['an RSA key', { instances: { a: { keys: [{ kty: 'RSA', n: 'AQAB', e: 'AQAB' }] } } }, /kty/],
    ['a P-384 key', { instances: { a: { keys: [{ ...EC, crv: 'P-384' }] } } }, /crv/],
    ['an alg that does not fit the key', { instances: { a: { keys: [{ ...EC, alg: 'RS256' }] } } }, /alg/],
    ['a truncated coordinate', { instances: { a: { keys: [{ ...EC, x: 'abc' }] } } }, /x/],
    ['a skew over 60 s', { instances: { a: { keys: [EC] } }, clockSkewSec: 300 }, /clockSkewSec/],
    ['an unknown option', { instances: { a: { keys: [EC] } }, maxLifetimeSec: 3600 }, /maxLifetimeSec|Unrecognized/],
  ])('refuses %s', (_what, value, message) => {
    expect(problems(value).join('\n')).toMatch(message);
  });
});

describe('platforms.n8n in a policy file', () => {
  it('enables the n8n verifier when present, and only then', async () => {
    const key = await generateInstanceKey('prod-eu');
    const policy = {
      version: 1,
      tenants: [
        {
          tenantId: '5a4d0b1e-0000-4000-8000-00000000a11d',
          blueprints: [
            { appId: 'b1e00000-0000-4000-8000-000000000001', agents: [{ id: 'a9e00000-0000-4000-8000-000000000001' }] },
          ],
        },
      ],
      platforms: parseYaml(policySnippet(key)).platforms,
      rules: [
        {
          name: 'nightly',
          platform: 'n8n',
          principal: 'n8n:prod-eu:workflow:Wf7kP9qW3e4R5tYu',
          agent: 'a9e00000-0000-4000-8000-000000000001',
          resources: ['https://graph.microsoft.com'],
        },
      ],
    };
    const env = {
      BRIDGE_ISSUER: 'https://bridge.example.com',
      BRIDGE_SIGNING_KEY: await generateSigningKeyJwk(),
      BRIDGE_POLICY: JSON.stringify(policy),
    };
    const deps = { fetch: createBoundedFetch(), clock: () => 0 };
    const config = loadConfig(env, { platforms: PLATFORMS });
    expect((config.platforms.n8n as N8nPlatformConfig | undefined)?.instances['prod-eu']?.keys?.[0]).toMatchObject({
      kid: key.kid,
      alg: 'ES256',
    });
    expect(buildVerifiers(config, deps).map((v) => v.platform)).toEqual(['n8n']);
    const without = loadConfig(
      { ...env, BRIDGE_POLICY: JSON.stringify({ ...policy, platforms: {}, rules: [] }) },
      { platforms: PLATFORMS },
    );
    expect(buildVerifiers(without, deps)).toEqual([]);
  });

  it('names the option when the n8n section is wrong', async () => {
    const env = {
      BRIDGE_ISSUER: 'https://bridge.example.com',
      BRIDGE_SIGNING_KEY: await generateSigningKeyJwk(),
      BRIDGE_POLICY: JSON.stringify({
        version: 1,
        tenants: [
          {
            tenantId: 't',
            blueprints: [
              {
                appId: 'b1e00000-0000-4000-8000-000000000001',
                agents: [{ id: 'a9e00000-0000-4000-8000-000000000001' }],
              },
            ],
          },
        ],
        platforms: { n8n: { instances: { prod: {} } } },
        rules: [],
      }),
    };
    expect(() => loadConfig(env, { platforms: PLATFORMS })).toThrow(/policy\.platforms\.n8n\.instances\.prod/);
  });
});

describe('npm run n8n:keygen', () => {
  it('makes ES256 and EdDSA key pairs whose kid is the thumbprint the bridge computes', async () => {
    for (const alg of ['ES256', 'EdDSA'] as const) {
      const k = await generateInstanceKey('prod-eu', alg);
      expect(k.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
      expect(k.publicJwk).toMatchObject({ kid: k.kid, alg, use: 'sig' });
      expect(k.publicJwk).not.toHaveProperty('d');
      expect(problems({ instances: { [k.instanceId]: { keys: [k.publicJwk] } } })).toEqual([]);
    }
    await expect(generateInstanceKey('has:colon')).rejects.toThrow(/--instance/);
  });
});
