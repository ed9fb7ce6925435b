/**
 * Issue 8 items 4, 6, 7 and 9 end to end: the bridge against the Entra emulator in the sandbox.
 *  - item 4: a user token Entra refuses in the OBO exchange is 400 invalid_request (RFC 8693 §2.2.2),
 *    with the AADSTS code and Entra's text in the audit;
 *  - item 6: each FIC field Entra names gets its operator message (issuer and audience values are
 *    public; the subject is in the audit only);
 *  - item 7: a cloud other than the public one: the bridge asserts and asks for its token-exchange audience;
 *  - item 9: a downstream API validates sandbox tokens "the Microsoft way" (discovery → jwks_uri) on loopback.
 */
import { createRemoteJWKSet, customFetch, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/audit.ts';
import { TOKEN_TYPE } from '../../src/constants.ts';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';
import { postToken } from '../support/http.ts';

const gcpProof = (sb: Sandbox) => sb.gcp.emulator.mintIdToken({ audience: sb.url, format: 'full' });

describe('issue 8 item 4: user tokens Entra refuses are invalid_request', () => {
  let sb: Sandbox;
  const audit: AuditEvent[] = [];
  beforeAll(async () => {
    sb = await startSandbox({ port: 0, audit: (e) => audit.push(e) });
  });
  afterAll(async () => sb?.close());

  const obo = async (userToken: string) =>
    postToken(sb.url, {
      subject_token: userToken,
      subject_token_type: TOKEN_TYPE.accessToken,
      actor_token: await gcpProof(sb),
      actor_token_type: TOKEN_TYPE.idToken,
      scope: `${SANDBOX.graph}/User.Read`,
    });

  const human = {
    clientId: SANDBOX.clientAppId,
    username: SANDBOX.humanUser.upn,
    password: SANDBOX.humanUser.password,
    scope: `api://${SANDBOX.blueprintId}/access_agent`,
  };

  it('issue 8 item 4: a user token whose signature fails (AADSTS50013) → 400 invalid_request, not invalid_grant; AADSTS code and Entra text in the audit', async () => {
    const tampered = (await sb.entra.signInUser(SANDBOX.tenantId, human))
      .split('.')
      .map((part, i) => (i === 2 ? `${part.slice(0, -4)}AAAA` : part))
      .join('.');
    const res = await obo(tampered);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect(res.body.error_description).toMatch(/AADSTS50013/);
    expect(audit.at(-1)).toMatchObject({
      outcome: 'denied',
      reason: 'entra_user_assertion_invalid',
      aadsts: '50013',
      fields: { stage: 'OBO exchange', entra_error: 'invalid_grant' },
    });
    expect(String(audit.at(-1)!.detail)).toMatch(/AADSTS50013/);
  });

  it('issue 8 item 4: an expired user token (AADSTS500133) → 400 invalid_request naming the expiry', async () => {
    // Warm leg 1, so that the injected answer meets the OBO exchange.
    const ok = await obo(await sb.entra.signInUser(SANDBOX.tenantId, human));
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    sb.entra.injectFault({
      kind: 'error',
      status: 400,
      error: 'invalid_grant',
      aadsts: 500133,
      description: 'Assertion is not within its valid time range.',
    });
    const res = await obo(await sb.entra.signInUser(SANDBOX.tenantId, human));
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect(res.body.error_description).toMatch(/AADSTS500133: the user token has expired/);
    expect(audit.at(-1)).toMatchObject({ reason: 'entra_user_assertion_invalid', aadsts: '500133' });
  });

  it('issue 8 item 4: missing consent (AADSTS65001) → 400 invalid_scope (RFC 6749 §5.2), not invalid_grant', async () => {
    const res = await postToken(sb.url, {
      subject_token: await sb.entra.signInUser(SANDBOX.tenantId, human),
      subject_token_type: TOKEN_TYPE.accessToken,
      actor_token: await gcpProof(sb),
      actor_token_type: TOKEN_TYPE.idToken,
      scope: `${SANDBOX.graph}/Mail.Send`,
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_scope');
    expect(audit.at(-1)).toMatchObject({ reason: 'entra_consent_required', aadsts: '65001' });
  });
});

describe('issue 8 item 6: an operator message per FIC code', () => {
  let sb: Sandbox;
  const audit: AuditEvent[] = [];
  beforeAll(async () => {
    sb = await startSandbox({ port: 0, audit: (e) => audit.push(e) });
  });
  afterAll(async () => sb?.close());

  // Entra's answers injected on leg 1 (the emulator answers 700213 and 70022204 by itself: entra-faults and item 7 below).
  const FIC_ANSWER = {
    status: 401,
    error: 'invalid_client',
    description: 'No matching federated identity record found.',
  };
  const UNREACHABLE_ANSWER = {
    status: 400,
    error: 'invalid_request',
    description: 'Request to External OIDC endpoint failed.',
  };
  it.each([
    [700211, FIC_ANSWER, 'issuer', (sb: Sandbox): string => sb.url],
    [700212, FIC_ANSWER, 'audience', (): string => 'api://AzureADTokenExchange'],
    [7002121, FIC_ANSWER, 'audience', (): string => 'api://AzureADTokenExchange'],
    [70022204, FIC_ANSWER, 'audience', (): string => 'api://AzureADTokenExchange'],
    [7002137, FIC_ANSWER, 'subject', (): string => `agent-id-bridge:${SANDBOX.blueprintId}`],
    [7002138, FIC_ANSWER, 'subject', (): string => `agent-id-bridge:${SANDBOX.blueprintId}`],
    [90061, UNREACHABLE_ANSWER, 'issuer', (sb: Sandbox): string => sb.url],
    [50166, UNREACHABLE_ANSWER, 'issuer', (sb: Sandbox): string => sb.url],
    [501661, UNREACHABLE_ANSWER, 'issuer', (sb: Sandbox): string => sb.url],
  ] as [number, typeof FIC_ANSWER, 'issuer' | 'subject' | 'audience', (sb: Sandbox) => string][])(
    'issue 8 item 6: AADSTS%i → 502 entra_configuration_error naming the FIC field and, in the audit, its expected value',
    async (code, answer, field, expected) => {
      sb.entra.injectFault({ kind: 'error', ...answer, aadsts: code });
      const res = await postToken(sb.url, {
        subject_token: await gcpProof(sb),
        subject_token_type: TOKEN_TYPE.idToken,
        resource: SANDBOX.graph,
      });
      expect(res.status).toBe(502);
      expect(res.body.error).toBe('entra_configuration_error');
      const description = String(res.body.error_description);
      expect(description).toContain(`AADSTS${code}`);
      if (field !== 'subject') expect(description).toContain(expected(sb));
      else expect(description).not.toContain(expected(sb));
      expect(audit.at(-1)).toMatchObject({
        reason: 'entra_misconfigured',
        aadsts: String(code),
        fields: { fic_field: field, expected: expected(sb) },
      });
    },
  );

  it('issue 8 item 6: the legacy AADSTS70021 names all three FIC fields (issuer and audience values; the subject in the audit)', async () => {
    sb.entra.injectFault({
      kind: 'error',
      status: 400,
      error: 'invalid_request',
      aadsts: 70021,
      description: 'No matching federated identity record found for presented assertion.',
    });
    const res = await postToken(sb.url, {
      subject_token: await gcpProof(sb),
      subject_token_type: TOKEN_TYPE.idToken,
      resource: SANDBOX.graph,
    });
    expect(res.status).toBe(502);
    expect(String(res.body.error_description)).toContain(`issuer = ${sb.url}`);
    expect(String(res.body.error_description)).toContain('audience = api://AzureADTokenExchange');
    expect(audit.at(-1)).toMatchObject({
      aadsts: '70021',
      fields: {
        expected_issuer: sb.url,
        expected_subject: `agent-id-bridge:${SANDBOX.blueprintId}`,
        expected_audience: 'api://AzureADTokenExchange',
      },
    });
  });

  it('issue 8 item 6: a missing client credential (AADSTS7000216) → 502 with an operator message', async () => {
    sb.entra.injectFault({
      kind: 'error',
      status: 401,
      error: 'invalid_client',
      aadsts: 7000216,
      description:
        "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
    });
    const res = await postToken(sb.url, {
      subject_token: await gcpProof(sb),
      subject_token_type: TOKEN_TYPE.idToken,
      resource: SANDBOX.graph,
    });
    expect(res.status).toBe(502);
    expect(res.body.error).toBe('entra_configuration_error');
    expect(String(res.body.error_description)).toMatch(/AADSTS7000216: Entra received no client assertion/);
  });
});

describe('issue 8 item 7: a sovereign cloud (US Government) token-exchange audience', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox({
      port: 0,
      overrides: { ENTRA_TOKEN_EXCHANGE_AUDIENCE: 'api://AzureADTokenExchangeUSGov' },
    });
  });
  afterAll(async () => sb?.close());

  it('issue 8 item 7: the bridge asserts api://AzureADTokenExchangeUSGov and asks for it in leg 1 and T2 when configured so', async () => {
    const res = await postToken(sb.url, {
      subject_token: await gcpProof(sb),
      subject_token_type: TOKEN_TYPE.idToken,
      resource: SANDBOX.graph,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const agentUser = await postToken(sb.url, {
      subject_token: await gcpProof(sb),
      subject_token_type: TOKEN_TYPE.idToken,
      resource: SANDBOX.graph,
      agent_user: SANDBOX.agentUser.upn,
    });
    expect(agentUser.status, JSON.stringify(agentUser.body)).toBe(200);
    const scopes = sb.entra.calls.filter((c) => c.leg === 'leg1' || c.leg === 't2').map((c) => [c.leg, c.scope]);
    expect(scopes).toEqual(
      expect.arrayContaining([
        ['leg1', 'api://AzureADTokenExchangeUSGov/.default'],
        ['t2', 'api://AzureADTokenExchangeUSGov/.default'],
      ]),
    );
    expect((sb.manifest.entra as { tokenExchangeAudience: string }).tokenExchangeAudience).toBe(
      'api://AzureADTokenExchangeUSGov',
    );
  });
});

describe('issue 8 item 9: a downstream API validates sandbox tokens the Microsoft way', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox({ port: 0 });
  });
  afterAll(async () => sb?.close());

  it("issue 8 item 9: authority + discovery → jwks_uri on the emulator; issuer and aud (the manifest's API client id) check out; nothing leaves loopback", async () => {
    const res = await postToken(sb.url, {
      subject_token: await gcpProof(sb),
      subject_token_type: TOKEN_TYPE.idToken,
      scope: `${SANDBOX.api}/.default`,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const token = String(res.body.access_token);

    const entra = sb.manifest.entra as { discovery: string };
    const api = sb.manifest.api as { clientId: string };
    const fetched: string[] = [];
    const loopbackOnly: typeof fetch = async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      fetched.push(url.href);
      if (url.hostname !== '127.0.0.1') throw new Error(`left loopback: ${url.href}`);
      return fetch(url, init);
    };
    const discovery = (await (await loopbackOnly(entra.discovery)).json()) as { issuer: string; jwks_uri: string };
    const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri), { [customFetch]: loopbackOnly });
    const { payload } = await jwtVerify(token, jwks, {
      issuer: discovery.issuer,
      audience: api.clientId,
      algorithms: ['RS256'],
    });
    expect(payload).toMatchObject({
      iss: `https://login.microsoftonline.com/${SANDBOX.tenantId}/v2.0`,
      aud: SANDBOX.apiAppId,
      azp: SANDBOX.agentId,
    });
    expect(decodeJwt(token).aud).toBe(api.clientId);
    expect(fetched.length).toBe(2);
    expect(fetched.every((u) => new URL(u).hostname === '127.0.0.1')).toBe(true);
  });
});
