/**
 * The Entra emulator checks what Entra checks: @azure/msal-node 7.x against the emulator.
 * Over real HTTP on 127.0.0.1 (fixtures.ts). Test names ending in "(assumed: …)" rest on an
 * inference, not on documented Entra behaviour.
 */
import { describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { ConfidentialClientApplication, type AuthenticationResult } from '@azure/msal-node';
import {
  AGENT,
  AGENT_USER,
  BP,
  EXCHANGE_SCOPE,
  GRAPH,
  HUMAN,
  TID,
  assertion,
  entra,
  signIn,
  useEntraEmulators,
} from './fixtures.ts';

useEntraEmulators();

describe('@azure/msal-node 7.x against the emulator', () => {
  const msal = (
    clientId: string,
    clientAssertion: string | ((cfg: { clientId: string }) => Promise<string>),
  ): ConfidentialClientApplication =>
    new ConfidentialClientApplication({
      auth: {
        clientId,
        authority: `https://login.microsoftonline.com/${TID}`,
        clientAssertion,
        authorityMetadata: JSON.stringify({
          token_endpoint: `${entra.url}/${TID}/oauth2/v2.0/token`,
          authorization_endpoint: `${entra.url}/${TID}/oauth2/v2.0/authorize`,
          end_session_endpoint: `${entra.url}/${TID}/oauth2/v2.0/logout`,
          jwks_uri: `${entra.url}/${TID}/discovery/v2.0/keys`,
          issuer: `${entra.url}/${TID}/v2.0`,
        }),
      },
    });

  function agentApps(): { blueprint: ConfidentialClientApplication; agent: ConfidentialClientApplication } {
    const blueprint = msal(BP, () => assertion());
    const agent = msal(AGENT, async ({ clientId }) => {
      const r = await blueprint.acquireTokenByClientCredential({ scopes: [EXCHANGE_SCOPE], fmiPath: clientId });
      return r!.accessToken;
    });
    return { blueprint, agent };
  }

  it('runs leg 1 (fmiPath) and leg 2 with assertion callbacks, caching T1 per fmi_path', async () => {
    const { blueprint, agent } = agentApps();
    const t1 = await blueprint.acquireTokenByClientCredential({ scopes: [EXCHANGE_SCOPE], fmiPath: AGENT });
    expect(decodeJwt(t1!.accessToken).sub).toMatch(new RegExp(`/${AGENT}$`));
    const again = await blueprint.acquireTokenByClientCredential({ scopes: [EXCHANGE_SCOPE], fmiPath: AGENT });
    expect(again!.fromCache).toBe(true);
    const tr = await agent.acquireTokenByClientCredential({ scopes: [`${GRAPH}/.default`] });
    expect(decodeJwt(tr!.accessToken)).toMatchObject({ appid: AGENT, aud: GRAPH, roles: ['User.Read.All'] });
    expect(entra.calls.map((c) => c.leg)).toEqual(['leg1', 'leg2']); // T1 for leg 2 came from msal's cache
    expect(entra.calls[0]).toMatchObject({
      tenantId: TID,
      clientId: BP,
      fmiPath: AGENT,
      status: 200,
      grantType: 'client_credentials',
    });
  });

  it('runs OBO and user_fic, building an account from client_info', async () => {
    const { agent } = agentApps();
    const tc = await signIn();
    const obo = (await agent.acquireTokenOnBehalfOf({
      oboAssertion: tc,
      scopes: [`${GRAPH}/User.Read`],
    })) as AuthenticationResult;
    expect(decodeJwt(obo.accessToken)).toMatchObject({ oid: HUMAN, appid: AGENT, scp: 'User.Read openid profile' });
    expect(obo.account?.homeAccountId).toBe(`${HUMAN}.${TID}`);

    const t2 = await agent.acquireTokenByClientCredential({ scopes: [EXCHANGE_SCOPE] });
    const au = (await agent.acquireTokenByUserFederatedIdentityCredential({
      scopes: [`${GRAPH}/.default`],
      assertion: t2!.accessToken,
      userObjectId: AGENT_USER,
    })) as AuthenticationResult;
    expect(decodeJwt(au.accessToken)).toMatchObject({ oid: AGENT_USER, appid: AGENT });
    expect(au.account?.homeAccountId).toBe(`${AGENT_USER}.${TID}`);
    expect(entra.calls.map((c) => c.leg)).toEqual(['ropc', 'leg1', 'obo', 't2', 'user_fic']);
  });

  it('surfaces Entra errors to msal with their AADSTS code', async () => {
    const bad = msal(BP, () => assertion({ sub: 'someone-else' }));
    const err = await bad
      .acquireTokenByClientCredential({ scopes: [EXCHANGE_SCOPE], fmiPath: AGENT })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ errorCode: 'invalid_client', errorNo: 700213, status: 401 });
  });
});
