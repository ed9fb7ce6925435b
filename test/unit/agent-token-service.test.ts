import { describe, expect, it } from 'vitest';
import { AgentTokenService, type AgentTokenRequest } from '../../src/entra/client.ts';
import { EntraHttpError, type EntraToken, type EntraTransport } from '../../src/entra/types.ts';
import { BridgeError, toWire } from '../../src/errors.ts';
import { UpstreamError } from '../../src/net/bounded-fetch.ts';

type Leg = 'leg1' | 'leg2' | 'obo' | 'user_fic';

/** A scripted transport: each leg answers from a queue of outcomes, then succeeds. */
function scripted(now: () => number, script: Partial<Record<Leg, (Error | 'ok')[]>> = {}) {
  const calls: Leg[] = [];
  const assertions: string[] = [];
  const answer = async (leg: Leg, lifetime = 3600): Promise<EntraToken> => {
    calls.push(leg);
    await new Promise((r) => setTimeout(r, 5));
    const next = script[leg]?.shift();
    if (next && next !== 'ok') throw next;
    return { accessToken: `${leg}-${calls.length}`, expiresAt: now() + lifetime };
  };
  const transport: EntraTransport = {
    name: 'scripted',
    blueprintExchangeToken: async (p) => {
      assertions.push(await p.clientAssertion());
      return answer('leg1');
    },
    agentClientCredentials: () => answer('leg2'),
    onBehalfOf: () => answer('obo'),
    userFederatedCredential: () => answer('user_fic'),
  };
  return { transport, calls, assertions };
}

function service(transport: EntraTransport, clock: () => number, sleeps: number[] = []) {
  return new AgentTokenService({
    transport,
    mintAssertion: async (subject) => `assertion-for-${subject}-${Math.random()}`,
    fic: { issuer: 'https://bridge.example.com', audience: 'api://AzureADTokenExchange' },
    clock,
    renewBeforeSec: 300,
    retry: { attempts: 3, baseDelayMs: 10, maxInlineRetryAfterSec: 2 },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
}

/** A JWT-shaped user token (the bridge never verifies it; Entra does), with `exp` when given. */
function userToken(oid: string, exp: number | undefined): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part({ oid, ...(exp !== undefined ? { exp } : {}) })}.c2ln`;
}

const req = (over: Partial<AgentTokenRequest> = {}): AgentTokenRequest => ({
  tenantId: 't',
  blueprintId: 'bp',
  ficSubject: 'agent-id-bridge:bp',
  agentId: 'a1',
  mode: 'autonomous',
  scopes: ['https://graph.microsoft.com/.default'],
  correlationId: 'c',
  ...over,
});

describe('agent-token service', () => {
  it('runs leg 1 then leg 2, and serves a warm request from cache', async () => {
    let t = 1000;
    const s = scripted(() => t);
    const svc = service(s.transport, () => t);
    const first = await svc.acquire(req());
    expect(first.fromCache).toBe(false);
    expect(s.calls).toEqual(['leg1', 'leg2']);
    const second = await svc.acquire(req());
    expect(second).toEqual({ token: first.token, fromCache: true });
    expect(s.calls).toEqual(['leg1', 'leg2']);
  });

  it('shares one upstream call among concurrent identical cold requests (single flight)', async () => {
    const s = scripted(() => 1000);
    const svc = service(s.transport, () => 1000);
    const results = await Promise.all(Array.from({ length: 50 }, () => svc.acquire(req())));
    expect(s.calls).toEqual(['leg1', 'leg2']);
    expect(new Set(results.map((r) => r.token.accessToken)).size).toBe(1);
  });

  it('reuses T1 for another resource of the same agent, and mints a fresh assertion per leg-1 call', async () => {
    let t = 1000;
    const s = scripted(() => t);
    const svc = service(s.transport, () => t);
    await svc.acquire(req());
    await svc.acquire(req({ scopes: ['api://orders/.default'] }));
    expect(s.calls).toEqual(['leg1', 'leg2', 'leg2']);
    await svc.acquire(req({ agentId: 'a2' }));
    expect(s.calls.filter((c) => c === 'leg1')).toHaveLength(2);
    expect(new Set(s.assertions).size).toBe(2);
  });

  it('renews five minutes before expiry', async () => {
    let t = 1000;
    const s = scripted(() => t);
    const svc = service(s.transport, () => t);
    await svc.acquire(req());
    t += 3600 - 301;
    await svc.acquire(req());
    expect(s.calls).toEqual(['leg1', 'leg2']);
    t += 2;
    await svc.acquire(req());
    expect(s.calls).toEqual(['leg1', 'leg2', 'leg1', 'leg2']);
  });

  it('retries 5xx with backoff and succeeds', async () => {
    const sleeps: number[] = [];
    const s = scripted(() => 1000, {
      leg2: [new EntraHttpError({ status: 503, error: 'http_503', summary: 'down' }), 'ok'],
    });
    const svc = service(s.transport, () => 1000, sleeps);
    await svc.acquire(req());
    expect(s.calls).toEqual(['leg1', 'leg2', 'leg2']);
    expect(sleeps).toHaveLength(1);
  });

  it('waits a short Retry-After, but answers 503 at once when Entra asks for a long one', async () => {
    const sleeps: number[] = [];
    const short = scripted(() => 1000, {
      leg1: [new EntraHttpError({ status: 429, error: 'http_429', summary: 'slow', retryAfterSec: 1 }), 'ok'],
    });
    await service(short.transport, () => 1000, sleeps).acquire(req());
    expect(sleeps[0]).toBeGreaterThanOrEqual(1000);

    const long = scripted(() => 1000, {
      leg1: [new EntraHttpError({ status: 429, error: 'http_429', summary: 'slow', retryAfterSec: 30 })],
    });
    const err = await service(long.transport, () => 1000)
      .acquire(req())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BridgeError);
    expect(err).toMatchObject({ reason: 'entra_throttled', retryAfterSec: 30 });
    expect(long.calls).toEqual(['leg1']);
  });

  it('gives up after the attempt budget on timeouts', async () => {
    const timeout = () => new UpstreamError('timeout', 'login', 'no answer');
    const s = scripted(() => 1000, { leg1: [timeout(), timeout(), timeout()] });
    const err = await service(s.transport, () => 1000)
      .acquire(req())
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: 'entra_timeout' });
    expect(s.calls).toEqual(['leg1', 'leg1', 'leg1']);
  });

  it('does not retry a tenant misconfiguration, and explains it with the AADSTS code', async () => {
    const s = scripted(() => 1000, {
      leg1: [
        new EntraHttpError({
          status: 400,
          error: 'invalid_request',
          aadsts: '70021',
          summary: 'AADSTS70021: No matching federated identity record found',
          correlationId: 'corr-1',
        }),
      ],
    });
    const err = (await service(s.transport, () => 1000)
      .acquire(req())
      .catch((e: unknown) => e)) as BridgeError;
    expect(err.reason).toBe('entra_misconfigured');
    expect(err.publicDetail).toMatch(/AADSTS70021/);
    expect(err.publicDetail).toMatch(/federated identity credential/);
    expect(err.correlationId).toBe('corr-1');
    expect(s.calls).toEqual(['leg1']);
  });

  it('serves a still-valid cached token when renewal fails', async () => {
    let t = 1000;
    const s = scripted(() => t, {
      leg2: ['ok', new EntraHttpError({ status: 503, error: 'x', summary: 'down', retryAfterSec: 60 })],
    });
    const svc = service(s.transport, () => t);
    const first = await svc.acquire(req());
    t += 3600 - 200; // inside the renew window, 200 s before expiry
    const second = await svc.acquire(req());
    expect(second.token.accessToken).toBe(first.token.accessToken);
  });

  it('agent-user mode runs leg 1, T2 and user_fic; OBO runs leg 1 and OBO; each is cached per user', async () => {
    const s = scripted(() => 1000);
    const svc = service(s.transport, () => 1000);
    await svc.acquire(req({ mode: 'agent_user', agentUser: { upn: 'bot@contoso.com' } }));
    expect(s.calls).toEqual(['leg1', 'leg2', 'user_fic']);
    await svc.acquire(req({ mode: 'agent_user', agentUser: { upn: 'BOT@contoso.com' } }));
    expect(s.calls).toHaveLength(3);
    await svc.acquire(req({ mode: 'obo', userAssertion: userToken('user-a', 5000) }));
    await svc.acquire(req({ mode: 'obo', userAssertion: userToken('user-a', 5000) }));
    await svc.acquire(req({ mode: 'obo', userAssertion: userToken('user-b', 5000) }));
    expect(s.calls).toEqual(['leg1', 'leg2', 'user_fic', 'obo', 'obo']);
  });

  it('issue 8 item 11: a cached OBO token is not served after the user token it was issued for has expired', async () => {
    let t = 1000;
    const s = scripted(() => t);
    const svc = service(s.transport, () => t);
    const user = userToken('user-a', 1600); // the OBO token would live until 4600
    const first = await svc.acquire(req({ mode: 'obo', userAssertion: user }));
    t = 1599;
    expect(await svc.acquire(req({ mode: 'obo', userAssertion: user }))).toEqual({
      token: first.token,
      fromCache: true,
    });
    t = 1600;
    const after = await svc.acquire(req({ mode: 'obo', userAssertion: user }));
    expect(after.fromCache).toBe(false); // Entra is asked again, and judges the expired user token
    expect(s.calls).toEqual(['leg1', 'obo', 'obo']);
  });

  it('issue 8 item 11: a stale OBO token is not served on a failed renewal after the user token has expired', async () => {
    let t = 1000;
    const down = () => new EntraHttpError({ status: 503, error: 'x', summary: 'down' });
    const s = scripted(() => t, { obo: ['ok', down(), down(), down(), down(), down(), down()] });
    const svc = service(s.transport, () => t);
    const user = userToken('user-a', 4400); // the OBO token lives until 4600; renewal is due from 4300
    const first = await svc.acquire(req({ mode: 'obo', userAssertion: user }));
    t = 4350; // renewal fails, the user token is still valid: the old OBO token is served
    expect(await svc.acquire(req({ mode: 'obo', userAssertion: user }))).toEqual({
      token: first.token,
      fromCache: true,
    });
    t = 4400; // renewal fails, the user token has expired: nothing is served
    await expect(svc.acquire(req({ mode: 'obo', userAssertion: user }))).rejects.toMatchObject({
      reason: 'entra_unavailable',
    });
  });

  it('issue 8 item 11: an OBO token for a user token without a readable exp is not cached', async () => {
    const s = scripted(() => 1000);
    const svc = service(s.transport, () => 1000);
    for (const user of ['not-a-jwt', userToken('user-a', undefined)]) {
      await svc.acquire(req({ mode: 'obo', userAssertion: user }));
      expect((await svc.acquire(req({ mode: 'obo', userAssertion: user }))).fromCache).toBe(false);
    }
    expect(s.calls).toEqual(['leg1', 'obo', 'obo', 'obo', 'obo']);
  });

  it('blames the user token for AADSTS50027 in the OBO exchange, but not in leg 1', async () => {
    const malformed = () =>
      new EntraHttpError({
        status: 400,
        error: 'invalid_request',
        aadsts: '50027',
        summary: 'AADSTS50027: JWT token is invalid or malformed',
      });
    const obo = scripted(() => 1000, { obo: [malformed()] });
    const oboErr = await service(obo.transport, () => 1000)
      .acquire(req({ mode: 'obo', userAssertion: 'not-a-jwt' }))
      .catch((e: unknown) => e);
    expect(oboErr).toMatchObject({ reason: 'entra_user_assertion_invalid' });
    const leg1 = scripted(() => 1000, { leg1: [malformed()] });
    const leg1Err = await service(leg1.transport, () => 1000)
      .acquire(req())
      .catch((e: unknown) => e);
    expect(leg1Err).toMatchObject({ reason: 'entra_rejected' });
  });

  it("issue 8 item 4: user-token refusals in the OBO exchange are invalid_request (RFC 8693 §2.2.2) with the AADSTS code for the caller and Entra's text for the audit", async () => {
    for (const [aadsts, reason] of [
      ['500133', /expired/],
      ['500131', /another application/],
      ['50076', /multifactor/],
      ['53003', /Conditional Access/],
      ['50173', /revoked/],
    ] as const) {
      const s = scripted(() => 1000, {
        obo: [
          new EntraHttpError({
            status: 400,
            error: 'invalid_grant',
            aadsts,
            summary: `AADSTS${aadsts}: text from Entra`,
          }),
        ],
      });
      const err = (await service(s.transport, () => 1000)
        .acquire(req({ mode: 'obo', userAssertion: 'u' }))
        .catch((e: unknown) => e)) as BridgeError;
      expect(err.reason).toBe('entra_user_assertion_invalid');
      expect(toWire(err.reason)).toMatchObject({ status: 400, error: 'invalid_request' });
      expect(err.aadsts).toBe(aadsts);
      expect(err.publicDetail).toMatch(new RegExp(`^AADSTS${aadsts}: `));
      expect(err.publicDetail).toMatch(reason);
      expect(err.detail).toMatch(/text from Entra/);
    }
    expect(toWire('entra_consent_required')).toMatchObject({ status: 400, error: 'invalid_scope' });
  });

  it('issue 8 item 6: each FIC code names the field to fix and its expected value; the subject only in the audit fields', async () => {
    const cases = [
      ['700211', 'issuer', 'https://bridge.example.com'],
      ['700212', 'audience', 'api://AzureADTokenExchange'],
      ['7002121', 'audience', 'api://AzureADTokenExchange'],
      ['70022204', 'audience', 'api://AzureADTokenExchange'],
      ['700213', 'subject', 'agent-id-bridge:bp'],
      ['7002137', 'subject', 'agent-id-bridge:bp'],
      ['7002138', 'subject', 'agent-id-bridge:bp'],
      ['90061', 'issuer', 'https://bridge.example.com'],
      ['50166', 'issuer', 'https://bridge.example.com'],
      ['501661', 'issuer', 'https://bridge.example.com'],
    ] as const;
    for (const [aadsts, field, expected] of cases) {
      const s = scripted(() => 1000, {
        leg1: [
          new EntraHttpError({
            status: 401,
            error: 'invalid_client',
            aadsts,
            summary: `AADSTS${aadsts}: No matching federated identity record found`,
          }),
        ],
      });
      const err = (await service(s.transport, () => 1000)
        .acquire(req())
        .catch((e: unknown) => e)) as BridgeError;
      expect(err.reason, aadsts).toBe('entra_misconfigured');
      expect(toWire(err.reason)).toMatchObject({ status: 502, error: 'entra_configuration_error' });
      expect(err.publicDetail).toContain(`AADSTS${aadsts}`);
      expect(err.fields).toMatchObject({ fic_field: field, expected, blueprint: 'bp', stage: 'leg 1 (blueprint T1)' });
      if (field === 'subject') expect(err.publicDetail).not.toContain(expected);
      else expect(err.publicDetail).toContain(expected);
    }
  });

  it("issue 8 item 7: leg 1 and T2 ask for the configured cloud's token-exchange scope", async () => {
    const scopes: string[] = [];
    const s = scripted(() => 1000);
    const transport: EntraTransport = {
      ...s.transport,
      blueprintExchangeToken: async (p) => {
        scopes.push(`leg1 ${p.scope}`);
        return s.transport.blueprintExchangeToken(p);
      },
      agentClientCredentials: async (p) => {
        scopes.push(`leg2 ${p.scope}`);
        return s.transport.agentClientCredentials(p);
      },
    };
    const svc = new AgentTokenService({
      transport,
      mintAssertion: async () => 'a',
      fic: { issuer: 'https://bridge.example.com', audience: 'api://AzureADTokenExchangeUSGov' },
      clock: () => 1000,
      renewBeforeSec: 300,
      retry: { attempts: 1, baseDelayMs: 1, maxInlineRetryAfterSec: 0 },
    });
    await svc.acquire(req({ mode: 'agent_user', agentUser: { upn: 'bot@contoso.com' } }));
    expect(scopes).toEqual([
      'leg1 api://AzureADTokenExchangeUSGov/.default',
      'leg2 api://AzureADTokenExchangeUSGov/.default',
    ]);
  });
});
