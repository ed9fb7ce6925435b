/**
 * The shared Entra-client contract: every EntraTransport (msal-node on Node, plain fetch on
 * Workers) must send what Entra expects and report what Entra answers identically. Run against the
 * Entra emulator, which checks the bridge assertion against the bridge's published JWKS. The suite
 * talks to the emulator over HTTP only (faults and the user sign-in through its routes), so the same
 * code runs in Node (./entra-contract.test.ts) and inside workerd (test/workers/entra-contract.test.ts).
 */
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { ENTRA_PUBLIC_TOKEN_EXCHANGE_AUDIENCE, ENTRA_TOKEN_EXCHANGE_APP_ID } from '../../src/constants.ts';
import { tokenExchangeScope } from '../../src/entra/cloud.ts';
import { createFetchTransport } from '../../src/entra/transport-fetch.ts';
import { EntraHttpError, type EntraTransport } from '../../src/entra/types.ts';
import { mintBridgeAssertion } from '../../src/issuer/assertion.ts';
import type { IssuerKeys } from '../../src/issuer/keys.ts';
import { createBoundedFetch, UpstreamError } from '../../src/net/bounded-fetch.ts';
import { SANDBOX, SANDBOX_FIC_SUBJECT } from '../../sandbox/tenant.ts';

export interface EntraContractTarget {
  /** The Entra emulator's base URL (read when a test runs, after setup). */
  entraUrl(): string;
  /** The bridge issuer whose discovery + JWKS the emulator fetches, and its signing keys. */
  issuer(): string;
  keys(): IssuerKeys;
}

const EXCHANGE_SCOPE = tokenExchangeScope(ENTRA_PUBLIC_TOKEN_EXCHANGE_AUDIENCE);

export type TransportMaker = (endpoint: string, timeoutMs?: number) => EntraTransport;

export function describeEntraContract(
  transports: readonly [string, TransportMaker][],
  target: EntraContractTarget,
): void {
  describe.each(transports)('Entra transport contract: %s', (_name, make) => {
    const ctx = () => ({ tenantId: SANDBOX.tenantId, correlationId: crypto.randomUUID() });
    const assertion =
      (subject = SANDBOX_FIC_SUBJECT) =>
      () =>
        mintBridgeAssertion(target.keys(), {
          issuer: target.issuer(),
          subject,
          audience: ENTRA_PUBLIC_TOKEN_EXCHANGE_AUDIENCE,
          now: Math.floor(Date.now() / 1000),
        });

    it('leg 1 → T1 (fmi_path = agent), leg 2 → resource token, T2', async () => {
      const t = make(target.entraUrl());
      const t1 = await t.blueprintExchangeToken({
        ...ctx(),
        blueprintId: SANDBOX.blueprintId,
        agentId: SANDBOX.agentId,
        scope: EXCHANGE_SCOPE,
        clientAssertion: assertion(),
      });
      const c1 = decodeJwt(t1.accessToken);
      expect(c1).toMatchObject({ aud: ENTRA_TOKEN_EXCHANGE_APP_ID, azp: SANDBOX.blueprintId });
      expect(String(c1.sub).endsWith(`/${SANDBOX.agentId}`)).toBe(true);
      // expires_in (what both transports use) is Entra's promise; the token's own exp may run a little longer.
      expect(c1.exp! - t1.expiresAt).toBeGreaterThanOrEqual(0);
      expect(c1.exp! - t1.expiresAt).toBeLessThan(400);

      const tr = await t.agentClientCredentials({
        ...ctx(),
        agentId: SANDBOX.agentId,
        t1: t1.accessToken,
        scope: `${SANDBOX.graph}/.default`,
      });
      expect(decodeJwt(tr.accessToken)).toMatchObject({ aud: SANDBOX.graph, appid: SANDBOX.agentId });
      const t2 = await t.agentClientCredentials({
        ...ctx(),
        agentId: SANDBOX.agentId,
        t1: t1.accessToken,
        scope: EXCHANGE_SCOPE,
      });
      expect(decodeJwt(t2.accessToken)).toMatchObject({ aud: ENTRA_TOKEN_EXCHANGE_APP_ID, sub: SANDBOX.agentId });

      const user = await t.userFederatedCredential({
        ...ctx(),
        agentId: SANDBOX.agentId,
        t1: t1.accessToken,
        t2: t2.accessToken,
        user: { upn: SANDBOX.agentUser.upn },
        scopes: [`${SANDBOX.graph}/User.Read`],
      });
      expect(decodeJwt(user.accessToken)).toMatchObject({ oid: SANDBOX.agentUser.oid, idtyp: 'user' });

      const tc = await signInHuman(target.entraUrl());
      const obo = await t.onBehalfOf({
        ...ctx(),
        agentId: SANDBOX.agentId,
        t1: t1.accessToken,
        userAssertion: tc,
        scopes: [`${SANDBOX.graph}/User.Read`],
      });
      expect(decodeJwt(obo.accessToken)).toMatchObject({ oid: SANDBOX.humanUser.oid, appid: SANDBOX.agentId });
    });

    it('reports a FIC mismatch as EntraHttpError with the AADSTS code and correlation id', async () => {
      const t = make(target.entraUrl());
      const c = ctx();
      const err = await t
        .blueprintExchangeToken({
          ...c,
          blueprintId: SANDBOX.blueprintId,
          agentId: SANDBOX.agentId,
          scope: EXCHANGE_SCOPE,
          clientAssertion: assertion('agent-id-bridge:wrong'),
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EntraHttpError);
      // Current Entra names the FIC field: AADSTS700213 for the subject (https://github.com/Azure/login/issues/482).
      expect(err).toMatchObject({
        status: 401,
        error: 'invalid_client',
        aadsts: '700213',
        correlationId: c.correlationId,
      });
      expect((err as Error).message).not.toMatch(/eyJ/);
    });

    it("reports the leg-2 binding failure for an agent that is not T1's (assumed code AADSTS7002111, docs/entra.md#open-questions)", async () => {
      const t = make(target.entraUrl());
      const t1 = await t.blueprintExchangeToken({
        ...ctx(),
        blueprintId: SANDBOX.blueprintId,
        agentId: SANDBOX.agentId,
        scope: EXCHANGE_SCOPE,
        clientAssertion: assertion(),
      });
      const err = await t
        .agentClientCredentials({
          ...ctx(),
          agentId: SANDBOX.otherAgentId,
          t1: t1.accessToken,
          scope: `${SANDBOX.graph}/.default`,
        })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ aadsts: '7002111' });
    });

    it('reports 429 with Retry-After and 503 as EntraHttpError', async () => {
      const t = make(target.entraUrl());
      await injectFault(target.entraUrl(), { kind: 'throttle', retryAfterSec: 17 });
      const throttled = await t
        .blueprintExchangeToken({
          ...ctx(),
          blueprintId: SANDBOX.blueprintId,
          agentId: SANDBOX.agentId,
          scope: EXCHANGE_SCOPE,
          clientAssertion: assertion(),
        })
        .catch((e: unknown) => e);
      expect(throttled).toMatchObject({ status: 429, retryAfterSec: 17 });
      await injectFault(target.entraUrl(), { kind: 'unavailable', status: 503 });
      const down = await t
        .blueprintExchangeToken({
          ...ctx(),
          blueprintId: SANDBOX.blueprintId,
          agentId: SANDBOX.agentId,
          scope: EXCHANGE_SCOPE,
          clientAssertion: assertion(),
        })
        .catch((e: unknown) => e);
      expect(down).toMatchObject({ status: 503 });
    });

    it('reports a timeout as UpstreamError(timeout)', async () => {
      const t = make(target.entraUrl(), 200);
      await injectFault(target.entraUrl(), { kind: 'slow', delayMs: 600 });
      const err = await t
        .blueprintExchangeToken({
          ...ctx(),
          blueprintId: SANDBOX.blueprintId,
          agentId: SANDBOX.agentId,
          scope: EXCHANGE_SCOPE,
          clientAssertion: assertion(),
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UpstreamError);
      expect(err).toMatchObject({ kind: 'timeout' });
    });

    it('refuses plain http to a non-loopback Entra host before sending anything', async () => {
      const t = createFetchTransport({
        endpoint: 'http://login.example.com',
        fetch: createBoundedFetch({ allowInsecureLoopback: true }),
        timeoutMs: 500,
      });
      await expect(
        t.agentClientCredentials({ ...ctx(), agentId: SANDBOX.agentId, t1: 'x', scope: `${SANDBOX.graph}/.default` }),
      ).rejects.toMatchObject({ kind: 'scheme_not_allowed' });
    });
  });
}

/** Queue a fault for the emulator's next token-endpoint call (its test-only control route). */
async function injectFault(entraUrl: string, fault: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${entraUrl}/_emulator/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ fault }),
  });
  if (res.status !== 200) throw new Error(`the Entra emulator refused the fault: ${res.status}`);
}

/** The sandbox human signs in to the client app (ROPC), for the user token OBO needs. */
async function signInHuman(entraUrl: string): Promise<string> {
  const body = new URLSearchParams({
    grant_type: 'password',
    client_id: SANDBOX.clientAppId,
    username: SANDBOX.humanUser.upn,
    password: SANDBOX.humanUser.password,
    scope: `api://${SANDBOX.blueprintId}/access_agent`,
  });
  const res = await fetch(`${entraUrl}/${SANDBOX.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: body.toString(),
  });
  const json = (await res.json()) as { access_token?: string; error_description?: string };
  if (!json.access_token) throw new Error(`sign-in failed: ${json.error_description ?? res.status}`);
  return json.access_token;
}
