/**
 * The platform registry: the policy schema, the rule's platform enum and the
 * accepted proof token types come from the one list of adapters; overlapping claims and adapter
 * refusals are configuration problems reported together at startup.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { gcpPlatform } from '../../adapters/gcp/index.ts';
import { buildVerifiers } from '../../src/compose.ts';
import { ConfigError, loadConfig, type Env } from '../../src/config/config.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE } from '../../src/constants.ts';
import { BridgeError } from '../../src/errors.ts';
import { generateSigningKeyJwk } from '../../src/issuer/keys.ts';
import { createBoundedFetch } from '../../src/net/bounded-fetch.ts';
import { PLATFORMS, proofTokenTypes } from '../../src/platforms.ts';
import { parseTokenRequest } from '../../src/token/request.ts';
import { accept, definePlatform, type Platform, type PlatformModule } from '../../src/verify/contract.ts';
import { createJwtProofVerifier } from '../../src/verify/jwt.ts';

const AGENT = '33333333-3333-4333-8333-333333333333';
const key = await generateSigningKeyJwk();
const deps = { fetch: createBoundedFetch(), clock: () => 0 };

function env(policy: Record<string, unknown>, over: Env = {}): Env {
  return {
    BRIDGE_ISSUER: 'https://bridge.example.com',
    BRIDGE_SIGNING_KEY: key,
    BRIDGE_POLICY: JSON.stringify(policy),
    ...over,
  };
}

function policyWith(platforms: Record<string, unknown>, rulePlatform: string): Record<string, unknown> {
  return {
    version: 1,
    tenants: [
      {
        tenantId: '11111111-1111-4111-8111-111111111111',
        blueprints: [{ appId: '22222222-2222-4222-8222-222222222222', agents: [{ id: AGENT }] }],
      },
    ],
    platforms,
    rules: [
      { name: 'r', platform: rulePlatform, principal: 'p', agent: AGENT, resources: ['https://graph.microsoft.com'] },
    ],
  };
}

function problems(e: Env, platforms: readonly PlatformModule[] = PLATFORMS): string[] {
  try {
    loadConfig(e, { platforms });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

/** A stand-in fourth adapter that (wrongly) trusts Google's issuer. */
const impostor = definePlatform({
  name: 'impostor',
  configSchema: z.object({}).strict(),
  isAttribute: () => false,
  proofTokenTypes: [TOKEN_TYPE.jwt],
  createVerifiers: () => [
    createJwtProofVerifier({
      // A name the real registry does not have, so the Platform type does not know it.
      platform: 'impostor' as Platform,
      proofKind: 'impostor-jwt',
      tokenTypes: [TOKEN_TYPE.jwt],
      issuers: ['https://accounts.google.com'],
      keysFor: () => () => Promise.reject(new Error('unused')),
      algorithms: ['RS256'],
      maxLifetimeSec: 300,
      toWorkload: () => accept({ principal: 'x', attributes: {} }),
    }),
  ],
});

describe('platform registry', () => {
  it('issue 13 item 1: a rule naming a platform missing from the registry is rejected at load', () => {
    // n8n is a real adapter, but not in this registry: neither its section nor a rule naming it loads.
    const found = problems(
      env(policyWith({ gcp: {}, n8n: { instances: { prod: { jwksUrl: 'https://n8n.example.com/jwks' } } } }, 'n8n')),
      [gcpPlatform],
    );
    expect(found.some((p) => p.includes('policy.platforms') && p.includes('n8n'))).toBe(true);
    expect(found.some((p) => p.includes('policy.rules.0.platform'))).toBe(true);
    // With the full registry, a platform nobody registered is refused the same way.
    expect(problems(env(policyWith({ gcp: {} }, 'azure'))).some((p) => p.includes('policy.rules.0.platform'))).toBe(
      true,
    );
    // And the same policy naming a registered platform loads.
    expect(problems(env(policyWith({ gcp: {} }, 'gcp')))).toEqual([]);
  });

  it('issue 13 item 1: two platforms claiming the same issuer are refused at startup, naming both', () => {
    const registry = [gcpPlatform, impostor];
    const config = loadConfig(env(policyWith({ gcp: {}, impostor: {} }, 'gcp')), { platforms: registry });
    let error: unknown;
    try {
      buildVerifiers(config, deps, registry);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const [problem] = (error as ConfigError).problems;
    expect(problem).toMatch(/platforms\.gcp and platforms\.impostor both claim/);
    expect(problem).toContain('"https://accounts.google.com"');
    // Either one alone starts.
    expect(buildVerifiers(config, deps, [gcpPlatform]).map((v) => v.platform)).toEqual(['gcp']);
    // The real registry's platforms never overlap, all enabled at once.
    const all = loadConfig(
      env(
        policyWith(
          {
            gcp: {},
            n8n: { instances: { prod: { jwksUrl: 'https://n8n.example.com/jwks' } } },
            aws: { webIdentityIssuers: [{ account: '111122223333', issuer: 'https://abc.tokens.sts.global.api.aws' }] },
          },
          'gcp',
        ),
      ),
      { platforms: PLATFORMS },
    );
    expect(buildVerifiers(all, deps).map((v) => v.platform)).toEqual(['aws', 'aws', 'gcp', 'n8n']);
  });

  it('issue 13 item 1: an adapter refusing its section joins the one ConfigError list with every other problem', () => {
    const found = problems(
      env(policyWith({ aws: { stsEndpointOverride: 'http://127.0.0.1:8790' } }, 'aws'), { PORT: 'not-a-port' }),
    );
    expect(found).toHaveLength(2);
    expect(
      found.some((p) => p.includes('policy.platforms.aws.stsEndpointOverride: accepted only in the sandbox')),
    ).toBe(true);
    expect(found.some((p) => p.startsWith('PORT:'))).toBe(true);
  });

  it('issue 13 item 1: the accepted proof token types are those of the registered platforms', () => {
    const form = new Map([
      ['grant_type', GRANT_TYPE_TOKEN_EXCHANGE],
      ['subject_token', '%7B%7D'],
      ['subject_token_type', TOKEN_TYPE.aws4Request],
      ['resource', 'https://graph.microsoft.com'],
    ]);
    expect(parseTokenRequest(form, proofTokenTypes(PLATFORMS)).proof.tokenType).toBe(TOKEN_TYPE.aws4Request);
    expect(() => parseTokenRequest(form, proofTokenTypes([gcpPlatform]))).toThrow(BridgeError);
    expect(() => parseTokenRequest(form, proofTokenTypes([gcpPlatform]))).toThrow(/unsupported_token_type/);
  });
});
