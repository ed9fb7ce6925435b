import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, isConfigured, loadConfig, sandboxSkippedHint } from '../../src/config/config.ts';
import { renderPolicySchema, SCHEMA_PATH } from '../../src/config/write-schema.ts';
import { generateSigningKeyJwk } from '../../src/issuer/keys.ts';
import { PLATFORMS } from '../../src/platforms.ts';
import { MINIMAL_POLICY as POLICY } from '../support/minimal-policy.ts';

const key = await generateSigningKeyJwk();
const env = (over: Record<string, string | undefined> = {}) => ({
  BRIDGE_ISSUER: 'https://bridge.example.com',
  BRIDGE_SIGNING_KEY: key,
  BRIDGE_POLICY: POLICY,
  ...over,
});

function problems(e: Record<string, string | undefined>, mode?: 'sandbox'): string[] {
  try {
    loadConfig(e, mode ? { platforms: PLATFORMS, mode } : { platforms: PLATFORMS });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('configuration', () => {
  it('loads a complete production configuration with defaults', () => {
    const c = loadConfig(env(), { platforms: PLATFORMS });
    expect(c).toMatchObject({
      mode: 'production',
      issuer: 'https://bridge.example.com',
      audience: 'https://bridge.example.com',
      entra: { authorityHost: 'https://login.microsoftonline.com', endpoint: 'https://login.microsoftonline.com' },
      listen: { host: '127.0.0.1', port: 8787 },
      allowInsecureLoopback: false,
    });
    expect(c.policy.rules).toHaveLength(1);
  });

  it('reports every problem at once, each naming its option', () => {
    const p = problems({ BRIDGE_ISSUER: 'http://bridge.example.com/', PORT: 'eighty', BRIDGE_EXPLAIN: 'maybe' });
    expect(p.join('\n')).toMatch(/BRIDGE_ISSUER: must be https/);
    expect(p.join('\n')).toMatch(/BRIDGE_SIGNING_KEY: required/);
    expect(p.join('\n')).toMatch(/BRIDGE_POLICY_FILE or BRIDGE_POLICY: required/);
    expect(p.join('\n')).toMatch(/PORT: must be an integer/);
    expect(p.join('\n')).toMatch(/BRIDGE_EXPLAIN: must be on or off/);
  });

  it('refuses an issuer with a trailing slash (Entra matches it byte for byte)', () => {
    expect(problems(env({ BRIDGE_ISSUER: 'https://bridge.example.com/' }))).toEqual([
      expect.stringMatching(/BRIDGE_ISSUER: must not end with "\/"/),
    ]);
  });

  it('allows loopback http only in the sandbox', () => {
    expect(problems(env({ BRIDGE_ISSUER: 'http://127.0.0.1:8787' }))).toHaveLength(1);
    expect(
      problems(env({ BRIDGE_ISSUER: 'http://127.0.0.1:8787', ENTRA_AUTHORITY_HOST: 'http://127.0.0.1:9' }), 'sandbox'),
    ).toEqual([]);
    expect(problems(env({ ENTRA_AUTHORITY_HOST: 'http://login.example.com' }), 'sandbox')).toEqual([
      expect.stringMatching(/ENTRA_AUTHORITY_HOST: must be https/),
    ]);
    // The sandbox never talks to real Entra, even over https.
    expect(problems(env({ ENTRA_AUTHORITY_HOST: 'https://login.microsoftonline.com' }), 'sandbox')).toEqual([
      expect.stringMatching(/ENTRA_AUTHORITY_HOST: the sandbox talks to the local Entra emulator only/),
    ]);
  });

  it('issue 8 item 12: an http:// JWKS URL outside the sandbox is refused at load, naming its option', () => {
    const withPlatforms = (platforms: string) => POLICY.replace('platforms: { gcp: {} }', `platforms: ${platforms}`);
    const gcpHttp = withPlatforms('{ gcp: { jwksUrl: "http://keys.example.com/certs" } }');
    expect(problems(env({ BRIDGE_POLICY: gcpHttp }))).toEqual([
      expect.stringMatching(/^BRIDGE_POLICY: policy\.platforms\.gcp\.jwksUrl: must be https/),
    ]);
    const n8nHttp = withPlatforms(
      '{ gcp: {}, n8n: { instances: { prod: { jwksUrl: "http://n8n.example.com/jwks.json" } } } }',
    );
    expect(problems(env({ BRIDGE_POLICY: n8nHttp }))).toEqual([
      expect.stringMatching(/policy\.platforms\.n8n\.instances\.prod\.jwksUrl: must be https/),
    ]);
    // Loopback http stays possible in the sandbox (the emulators), https everywhere.
    const n8nLoopback = withPlatforms(
      '{ gcp: { jwksUrl: "http://127.0.0.1:9/certs" }, n8n: { instances: { prod: { jwksUrl: "http://127.0.0.1:9/jwks.json" } } } }',
    );
    expect(
      problems(
        env({
          BRIDGE_ISSUER: 'http://127.0.0.1:8787',
          ENTRA_AUTHORITY_HOST: 'http://127.0.0.1:9',
          BRIDGE_POLICY: n8nLoopback,
        }),
        'sandbox',
      ),
    ).toEqual([]);
    expect(problems(env({ BRIDGE_POLICY: n8nLoopback }))).toHaveLength(2);
    expect(
      problems(env({ BRIDGE_POLICY: withPlatforms('{ gcp: { jwksUrl: "https://keys.example.com/certs" } }') })),
    ).toEqual([]);
  });

  it('names the policy path of a schema error', () => {
    const bad = POLICY.replace('tenantId: 11111111-1111-4111-8111-111111111111', 'tenantId: common');
    expect(problems(env({ BRIDGE_POLICY: bad })).join('\n')).toMatch(
      /BRIDGE_POLICY: policy\.tenants\.0\.tenantId: must be a tenant id or domain/,
    );
    const unknownField = POLICY.replace('version: 1', 'version: 1\nallowEverything: true');
    expect(problems(env({ BRIDGE_POLICY: unknownField })).join('\n')).toMatch(
      /BRIDGE_POLICY: policy: Unrecognized key/,
    );
  });

  it('names the rule path of a compile error, with the policy file as source', () => {
    const bad = POLICY.replace('principal: "1"', 'principal: { regex: "(" }');
    const p = problems(env({ BRIDGE_POLICY: undefined, BRIDGE_POLICY_FILE: '/etc/bridge/policy.yaml' }));
    expect(p.join()).toMatch(/BRIDGE_POLICY_FILE/);
    expect(() =>
      loadConfig(env({ BRIDGE_POLICY: undefined, BRIDGE_POLICY_FILE: 'p.yaml' }), {
        platforms: PLATFORMS,
        readFile: () => bad,
      }),
    ).toThrow(/BRIDGE_POLICY_FILE: p.yaml|p\.yaml: policy\.rules\[0\]\.principal: invalid pattern/);
  });

  it('reads a JSON policy file as well as YAML', () => {
    const json = JSON.stringify({
      version: 1,
      tenants: [
        {
          tenantId: 'contoso.onmicrosoft.com',
          blueprints: [
            { appId: '22222222-2222-4222-8222-222222222222', agents: [{ id: '33333333-3333-4333-8333-333333333333' }] },
          ],
        },
      ],
      platforms: { gcp: {} },
      rules: [],
    });
    const c = loadConfig(env({ BRIDGE_POLICY: undefined, BRIDGE_POLICY_FILE: 'p.json' }), {
      platforms: PLATFORMS,
      readFile: () => json,
    });
    expect(c.policy.tenants[0]!.tenantId).toBe('contoso.onmicrosoft.com');
  });

  it('treats any bridge variable as "configured" (the sandbox then refuses to start)', () => {
    expect(isConfigured({})).toBe(false);
    expect(isConfigured({ PORT: '9000' })).toBe(false);
    expect(isConfigured({ BRIDGE_POLICY_FILE: 'x' })).toBe(true);
    expect(isConfigured({ ENTRA_AUTHORITY_HOST: 'https://login.microsoftonline.us' })).toBe(true);
  });

  it('ships a JSON Schema identical to the one generated from the source of truth', () => {
    expect(readFileSync(SCHEMA_PATH, 'utf8')).toBe(renderPolicySchema(PLATFORMS));
  });

  it('issue 8 item 7: derives the token-exchange audience from the cloud of ENTRA_AUTHORITY_HOST (MSAL.NET KnownCloudConfiguration.cs)', () => {
    expect(loadConfig(env(), { platforms: PLATFORMS }).entra.tokenExchangeAudience).toBe('api://AzureADTokenExchange');
    expect(
      loadConfig(env({ ENTRA_AUTHORITY_HOST: 'https://login.microsoftonline.us' }), { platforms: PLATFORMS }).entra
        .tokenExchangeAudience,
    ).toBe('api://AzureADTokenExchangeUSGov');
    expect(
      loadConfig(env({ ENTRA_AUTHORITY_HOST: 'https://login.partner.microsoftonline.cn/' }), { platforms: PLATFORMS })
        .entra.tokenExchangeAudience,
    ).toBe('api://AzureADTokenExchangeChina');
    // The sandbox's loopback emulator speaks for the public cloud.
    expect(
      loadConfig(env({ BRIDGE_ISSUER: 'http://127.0.0.1:8787', ENTRA_AUTHORITY_HOST: 'http://127.0.0.1:8788' }), {
        platforms: PLATFORMS,
        mode: 'sandbox',
      }).entra.tokenExchangeAudience,
    ).toBe('api://AzureADTokenExchange');
  });

  it('issue 8 item 7: ENTRA_TOKEN_EXCHANGE_AUDIENCE is required for an unknown cloud, wins when set, and is validated', () => {
    expect(problems(env({ ENTRA_AUTHORITY_HOST: 'https://login.sovcloud-identity.fr' }))).toEqual([
      expect.stringMatching(
        /^ENTRA_TOKEN_EXCHANGE_AUDIENCE: required for ENTRA_AUTHORITY_HOST=https:\/\/login.sovcloud-identity.fr/,
      ),
    ]);
    const fr = loadConfig(
      env({
        ENTRA_AUTHORITY_HOST: 'https://login.sovcloud-identity.fr',
        ENTRA_TOKEN_EXCHANGE_AUDIENCE: 'api://AzureADTokenExchangeFrance',
      }),
      { platforms: PLATFORMS },
    );
    expect(fr.entra.tokenExchangeAudience).toBe('api://AzureADTokenExchangeFrance');
    expect(
      loadConfig(env({ ENTRA_TOKEN_EXCHANGE_AUDIENCE: 'api://AzureADTokenExchangeUSGov' }), { platforms: PLATFORMS })
        .entra.tokenExchangeAudience,
    ).toBe('api://AzureADTokenExchangeUSGov');
    for (const bad of ['api://AzureADTokenExchange/', 'not a uri', `api://${'x'.repeat(600)}`]) {
      expect(problems(env({ ENTRA_TOKEN_EXCHANGE_AUDIENCE: bad }))).toEqual([
        expect.stringMatching(/^ENTRA_TOKEN_EXCHANGE_AUDIENCE: must be a URI/),
      ]);
    }
    expect(isConfigured({ ENTRA_TOKEN_EXCHANGE_AUDIENCE: 'api://AzureADTokenExchange' })).toBe(true);
  });
});

describe('issue 9 item 9: configuration messages a first-time operator can act on', () => {
  it('issue 9 item 9: an unquoted numeric id in YAML says to quote it, and what YAML made of it', () => {
    const awsPolicy = `${POLICY.replace('platforms: { gcp: {} }', 'platforms: { gcp: {}, aws: {} }')}  - { name: a, platform: aws, principal: "arn:aws:iam::012345678901:role/x", attributes: { account: 012345678901 }, agent: 33333333-3333-4333-8333-333333333333, resources: [https://graph.microsoft.com] }\n`;
    const found = problems(env({ BRIDGE_POLICY: awsPolicy }));
    expect(found).toContainEqual(
      'BRIDGE_POLICY: policy.rules.1.attributes.account: must be a string: quote numeric ids such as account numbers, e.g. "012345678901" (YAML read 012345678901 as the number 12345678901)',
    );
    const gcpPolicy = POLICY.replace('principal: "1"', 'principal: 108234567890123456789');
    expect(problems(env({ BRIDGE_POLICY: gcpPolicy }))).toContainEqual(
      expect.stringMatching(
        /policy\.rules\.0\.principal: must be a string: quote numeric ids such as account numbers, e\.g\. "108234567890123456789" \(YAML read 108234567890123456789 as the number 108234567890123460000\)/,
      ),
    );
  });

  it('issue 9 item 9: the hint names the stray variables and the missing ones, and is silent when nothing or everything is set', () => {
    expect(sandboxSkippedHint({ BRIDGE_AUDIT: 'off', ENTRA_TIMEOUT_MS: '100' })).toBe(
      'the sandbox did not start because ENTRA_TIMEOUT_MS, BRIDGE_AUDIT are set; set BRIDGE_ISSUER, BRIDGE_SIGNING_KEY, BRIDGE_POLICY_FILE to run the bridge, or unset ENTRA_TIMEOUT_MS, BRIDGE_AUDIT to run the sandbox',
    );
    expect(sandboxSkippedHint({ BRIDGE_ISSUER: 'https://b.example', BRIDGE_POLICY: POLICY })).toMatch(
      /set BRIDGE_SIGNING_KEY to run the bridge/,
    );
    expect(sandboxSkippedHint({ PORT: '1' })).toBeUndefined();
    expect(sandboxSkippedHint(env())).toBeUndefined();
  });
});
