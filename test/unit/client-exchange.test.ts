/** The client packages' exchange core (adapters/client), driven through the AWS token source as a workload uses it. */
import type { STSClient } from '@aws-sdk/client-sts';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAwsAgentTokenSource } from '../../adapters/aws/client/src/index.ts';
import { BridgeExchangeError, jwtExpiry } from '../../adapters/client/src/index.ts';

const T0 = Date.UTC(2026, 0, 1) / 1000;

/** An STSClient stand-in with what kind 1 reads: credentials and region (no call to STS is made). */
const sts = {
  config: {
    credentials: async () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', sessionToken: 'session' }),
    region: async () => 'us-east-1',
  },
} as unknown as STSClient;

/** A bridge stand-in answering each exchange with a fresh hour-long agent token; records the forms it got. */
function fakeBridge() {
  const forms: URLSearchParams[] = [];
  const fetch = (async (_url: string | URL | Request, init?: RequestInit) => {
    forms.push(new URLSearchParams(String(init?.body)));
    return Response.json({
      access_token: `agent-token-${forms.length}`,
      expires_in: 3600,
      scope: 'https://graph.microsoft.com/.default',
      agent_id: 'agent-1',
    });
  }) as typeof globalThis.fetch;
  return { forms, fetch };
}

/** An unsigned JWT with the given claims: the client reads `exp` only, it verifies nothing. */
const userJwt = (claims: Record<string, unknown>) =>
  ['{"alg":"none"}', JSON.stringify(claims)].map((part) => Buffer.from(part).toString('base64url')).join('.') + '.';

afterEach(() => {
  vi.useRealTimers();
});

describe('client exchange core', () => {
  it('issue 10 item 1: a cached OBO agent token is not served after the user token it was issued for expires', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0 * 1000);
    const bridge = fakeBridge();
    const source = createAwsAgentTokenSource({
      bridgeUrl: 'https://bridge.example',
      audience: 'https://bridge.example',
      resource: 'https://graph.microsoft.com',
      sts,
      fetch: bridge.fetch,
    });
    const userToken = userJwt({ sub: 'alice', exp: T0 + 600 });

    expect((await source.getToken({ userToken })).accessToken).toBe('agent-token-1');
    vi.setSystemTime((T0 + 599) * 1000);
    expect((await source.getToken({ userToken })).accessToken).toBe('agent-token-1');
    // The agent token would live for another 50 minutes, the user's session does not.
    vi.setSystemTime((T0 + 600) * 1000);
    expect((await source.getToken({ userToken })).accessToken).toBe('agent-token-2');
    expect(bridge.forms.map((f) => f.get('subject_token'))).toEqual([userToken, userToken]);
  });

  it('issue 10 item 1: an OBO agent token for a user token without a readable exp is not cached', async () => {
    const bridge = fakeBridge();
    const source = createAwsAgentTokenSource({
      bridgeUrl: 'https://bridge.example',
      audience: 'https://bridge.example',
      resource: 'https://graph.microsoft.com',
      sts,
      fetch: bridge.fetch,
    });
    await source.getToken({ userToken: 'opaque-user-token' });
    await source.getToken({ userToken: 'opaque-user-token' });
    expect(bridge.forms).toHaveLength(2);
  });

  it('app tokens stay cached until shortly before their own expiry, shared by concurrent callers', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0 * 1000);
    const bridge = fakeBridge();
    const source = createAwsAgentTokenSource({
      bridgeUrl: 'https://bridge.example',
      audience: 'https://bridge.example',
      resource: 'https://graph.microsoft.com',
      sts,
      fetch: bridge.fetch,
    });
    const first = await Promise.all(Array.from({ length: 10 }, () => source.getToken()));
    expect(new Set(first.map((t) => t.accessToken))).toEqual(new Set(['agent-token-1']));
    vi.setSystemTime((T0 + 3600 - 301) * 1000);
    expect((await source.getToken()).accessToken).toBe('agent-token-1');
    vi.setSystemTime((T0 + 3600 - 300) * 1000);
    expect((await source.getToken()).accessToken).toBe('agent-token-2');
  });

  it('issue 10 item 1: a refusal carries the bridge error, its description and the request_id, and no token', async () => {
    const proofs: string[] = [];
    const fetch = (async (_url: string | URL | Request, init?: RequestInit) => {
      proofs.push(new URLSearchParams(String(init?.body)).get('subject_token') ?? '');
      return Response.json(
        {
          error: 'invalid_target',
          error_description: 'resource: https://vault.azure.net is not allowed for this workload',
          request_id: 'req-42',
        },
        { status: 400, headers: { 'x-request-id': 'req-42' } },
      );
    }) as typeof globalThis.fetch;
    const source = createAwsAgentTokenSource({
      bridgeUrl: 'https://bridge.example',
      audience: 'https://bridge.example',
      resource: 'https://vault.azure.net',
      sts,
      fetch,
    });
    const error = await source.getToken().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BridgeExchangeError);
    expect(error).toMatchObject({
      status: 400,
      error: 'invalid_target',
      errorDescription: expect.stringContaining('resource'),
      requestId: 'req-42',
    });
    expect((error as Error).message).toContain('req-42');
    expect((error as Error).message).not.toContain(proofs[0]);
  });

  it('a retryable refusal without a JSON body still names the status, and the request_id from the header', async () => {
    const fetch = (async () =>
      new Response('upstream down', {
        status: 503,
        headers: { 'retry-after': '7', 'x-request-id': 'req-7' },
      })) as typeof globalThis.fetch;
    const source = createAwsAgentTokenSource({
      bridgeUrl: 'https://bridge.example',
      audience: 'https://bridge.example',
      sts,
      fetch,
    });
    await expect(source.getToken()).rejects.toMatchObject({
      status: 503,
      error: 'invalid_response',
      retryAfterSec: 7,
      requestId: 'req-7',
    });
  });

  it('forceRefresh exchanges anew and replaces the cached token', async () => {
    const bridge = fakeBridge();
    const source = createAwsAgentTokenSource({
      bridgeUrl: 'https://bridge.example',
      audience: 'https://bridge.example',
      sts,
      fetch: bridge.fetch,
    });
    await source.getToken();
    expect((await source.getToken({ forceRefresh: true })).accessToken).toBe('agent-token-2');
    expect((await source.getToken()).accessToken).toBe('agent-token-2');
  });

  it('jwtExpiry reads exp from a JWT payload and nothing else', () => {
    expect(jwtExpiry(userJwt({ exp: 1234 }))).toBe(1234);
    expect(jwtExpiry(userJwt({ exp: '1234' }))).toBeUndefined();
    expect(jwtExpiry('not-a-jwt')).toBeUndefined();
    expect(jwtExpiry('a.%%%.c')).toBeUndefined();
  });
});
