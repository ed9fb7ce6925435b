/**
 * The Entra emulator checks what Entra checks: The user flows: ROPC sign-in of the human user (Tc), OBO and user_fic.
 * Over real HTTP on 127.0.0.1 (fixtures.ts). Test names ending in "(assumed: …)" rest on an
 * inference, not on documented Entra behaviour.
 */
import { describe, expect, it } from 'vitest';
import { decodeJwt, SignJWT } from 'jose';
import {
  AGENT,
  AGENT_B,
  AGENT_USER,
  AGENT_USER_B,
  AGENT_USER_UPN,
  BP,
  BP_NOFIC,
  CLIENT_APP,
  GRAPH,
  HUMAN,
  HUMAN_PW,
  HUMAN_UPN,
  TID,
  WEATHER_APP,
  assertion,
  clock,
  emulatorKid,
  entra,
  expectEntraError,
  facets,
  newRsaKey,
  oboForm,
  post,
  signIn,
  t1For,
  t2For,
  useEntraEmulators,
  userFicForm,
  verified,
} from './fixtures.ts';

useEntraEmulators();

describe('ROPC sign-in of the human user (Tc)', () => {
  it('mints Tc for the blueprint audience with a 3599 s lifetime, without the optional idtyp claim', async () => {
    const tc = await verified(await signIn());
    expect(tc.idtyp).toBeUndefined();
    expect(tc).toMatchObject({
      aud: BP,
      iss: `https://login.microsoftonline.com/${TID}/v2.0`,
      ver: '2.0',
      oid: HUMAN,
      upn: HUMAN_UPN,
      scp: 'access_agent',
      azp: CLIENT_APP,
      tid: TID,
    });
    expect(tc.exp! - tc.iat!).toBe(3599);
  });

  it('returns scope, id_token and client_info on the wire when openid and client_info=1 are sent', async () => {
    const r = await post({
      grant_type: 'password',
      client_id: CLIENT_APP,
      username: HUMAN_UPN,
      password: HUMAN_PW,
      scope: `api://${BP}/access_agent openid profile offline_access`,
      client_info: '1',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.scope).toBe(`api://${BP}/access_agent openid profile offline_access`);
    expect(decodeJwt(r.body.id_token)).toMatchObject({
      aud: CLIENT_APP,
      oid: HUMAN,
      tid: TID,
      preferred_username: HUMAN_UPN,
    });
    expect(JSON.parse(Buffer.from(r.body.client_info, 'base64url').toString())).toEqual({ uid: HUMAN, utid: TID });
  });

  it('refuses a wrong password (invalid_grant AADSTS50126), an unknown client (AADSTS700016), an unknown user (AADSTS50034)', async () => {
    const base = {
      grant_type: 'password',
      client_id: CLIENT_APP,
      username: HUMAN_UPN,
      password: HUMAN_PW,
      scope: `api://${BP}/access_agent`,
    };
    expectEntraError(await post({ ...base, password: 'wrong' }), 400, 'invalid_grant', 50126);
    expectEntraError(
      await post({ ...base, client_id: '12345678-0000-4000-8000-000000000000' }),
      400,
      'unauthorized_client',
      700016,
    );
    expectEntraError(await post({ ...base, username: 'mallory@contoso.test' }), 400, 'invalid_grant', 50034);
    await expect(
      entra.signInUser(TID, { clientId: CLIENT_APP, username: HUMAN_UPN, password: 'nope', scope: base.scope }),
    ).rejects.toThrow(/AADSTS50126/);
  });

  it('requires the scope to name an exposed scope of a blueprint', async () => {
    const base = { grant_type: 'password', client_id: CLIENT_APP, username: HUMAN_UPN, password: HUMAN_PW };
    expectEntraError(await post({ ...base, scope: `api://${BP}/not_exposed` }), 400, 'invalid_scope', 70011);
    expectEntraError(await post({ ...base, scope: `${GRAPH}/User.Read` }), 400, 'invalid_scope', 70011);
    expectEntraError(
      await post({ ...base, scope: 'api://99999999-0000-4000-8000-000000000000/access_agent' }),
      400,
      'invalid_resource',
      500011,
    );
  });
});

describe('OBO: agent identity on behalf of the human user', () => {
  it('issues a delegated Graph token for the consented scopes with the agent as actor', async () => {
    const r = await post({
      ...(await oboForm(await signIn(), `${GRAPH}/.default openid profile offline_access`)),
      client_info: '1',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const at = await verified(r.body.access_token);
    expect(at).toMatchObject({
      aud: GRAPH,
      iss: `https://sts.windows.net/${TID}/`,
      idtyp: 'user',
      oid: HUMAN,
      upn: HUMAN_UPN,
      appid: AGENT,
      appidacr: '2',
      ver: '1.0',
      xms_par_app_azp: BP,
    });
    expect(String(at.scp).split(' ')).toEqual(['User.Read', 'Mail.Read', 'openid', 'profile']);
    expect(facets(at.xms_act_fct)).toContain(11);
    expect(at.exp! - at.iat!).toBe(29100);
    expect(r.body.scope).toBe(`${GRAPH}/User.Read ${GRAPH}/Mail.Read ${GRAPH}/.default openid profile offline_access`);
    expect(decodeJwt(r.body.id_token)).toMatchObject({ aud: AGENT, oid: HUMAN });
    expect(JSON.parse(Buffer.from(r.body.client_info, 'base64url').toString())).toEqual({ uid: HUMAN, utid: TID });
  });

  it('narrows scp to the requested scope, and shapes v2 resources with azp and the resource appId', async () => {
    const tc = await signIn();
    const t1 = await t1For();
    const one = await post(await oboForm(tc, `${GRAPH}/User.Read`, t1));
    expect(decodeJwt(one.body.access_token).scp).toBe('User.Read');
    const v2 = await post(await oboForm(tc, 'api://weather/forecast.read', t1));
    expect(v2.status, JSON.stringify(v2.body)).toBe(200);
    expect(decodeJwt(v2.body.access_token)).toMatchObject({
      aud: WEATHER_APP,
      azp: AGENT,
      scp: 'forecast.read',
      idtyp: 'user',
      ver: '2.0',
    });
  });

  it('refuses missing consent with invalid_grant AADSTS65001', async () => {
    expectEntraError(await post(await oboForm(await signIn(), `${GRAPH}/Mail.Send`)), 400, 'invalid_grant', 65001);
  });

  it('refuses an expired Tc with AADSTS500133', async () => {
    const tc = await signIn();
    const t1 = await t1For();
    clock.shiftSec = 3599 + 301 + 5; // Tc lapsed, T1 (3900 s) still valid
    expectEntraError(await post(await oboForm(tc, `${GRAPH}/.default`, t1)), 400, 'invalid_grant', 500133);
  });

  it('requires Tc audience = the agent parent blueprint, and an emulator-signed user token (AADSTS50013)', async () => {
    const t1 = await t1For();
    const otherBlueprintTc = await signIn(`api://${BP_NOFIC}/access_agent`);
    expectEntraError(await post(await oboForm(otherBlueprintTc, `${GRAPH}/.default`, t1)), 400, 'invalid_grant', 50013);
    const forgedKey = await newRsaKey();
    const forged = await new SignJWT(decodeJwt(await signIn()))
      .setProtectedHeader({ alg: 'RS256', kid: emulatorKid() })
      .sign(forgedKey.privateKey);
    expectEntraError(await post(await oboForm(forged, `${GRAPH}/.default`, t1)), 400, 'invalid_grant', 50013);
    expectEntraError(await post(await oboForm(await t2For(), `${GRAPH}/.default`, t1)), 400, 'invalid_grant', 50013);
  });

  it('authenticates the agent with T1 exactly as leg 2 does', async () => {
    const tc = await signIn();
    expectEntraError(
      await post(await oboForm(tc, `${GRAPH}/.default`, await t1For(AGENT_B))),
      401,
      'invalid_client',
      7002111,
    );
  });

  it('requires assertion and requested_token_use (AADSTS900144)', async () => {
    const form = await oboForm(await signIn(), `${GRAPH}/.default`);
    expectEntraError(await post({ ...form, assertion: '' }), 400, 'invalid_request', 900144);
    const { requested_token_use: _r, ...noUse } = form;
    expectEntraError(await post(noUse), 400, 'invalid_request', 900144);
  });
});

// ─── user_fic ───

describe('user_fic: agent identity + T1 + T2 → agent user token', () => {
  it('issues the agent-user token with the docs/entra.md#token-claims claims (by user_id, as msal sends it)', async () => {
    const r = await post(await userFicForm());
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const at = await verified(r.body.access_token);
    expect(at).toMatchObject({
      aud: GRAPH,
      idtyp: 'user',
      oid: AGENT_USER,
      upn: AGENT_USER_UPN,
      appid: AGENT,
      xms_par_app_azp: BP,
      ver: '1.0',
    });
    expect(String(at.scp).split(' ').sort()).toEqual(['User.Read', 'email', 'openid', 'profile'].sort());
    expect(facets(at.xms_sub_fct)).toContain(13);
    expect(facets(at.xms_act_fct)).toContain(11);
    expect(facets(at.xms_idrel)).toContain(1);
    expect(at.exp! - at.iat!).toBe(29100);
    expect(JSON.parse(Buffer.from(r.body.client_info, 'base64url').toString())).toEqual({ uid: AGENT_USER, utid: TID });
  });

  it('accepts username instead of user_id, with or without requested_token_use=on_behalf_of (assumed: both accepted, docs/entra.md#open-questions)', async () => {
    expect((await post(await userFicForm({ user_id: undefined, username: AGENT_USER_UPN }))).status).toBe(200);
    expect((await post(await userFicForm({ requested_token_use: 'on_behalf_of' }))).status).toBe(200);
  });

  it('refuses an agent user that does not exist or belongs to another agent (assumed: invalid_grant AADSTS50034, docs/entra.md#error-codes)', async () => {
    expectEntraError(
      await post(await userFicForm({ user_id: '99999999-0000-4000-8000-000000000000' })),
      400,
      'invalid_grant',
      50034,
    );
    expectEntraError(await post(await userFicForm({ user_id: AGENT_USER_B })), 400, 'invalid_grant', 50034);
  });

  it('refuses a T2 that is not this agent’s (T1 instead, a sibling’s T2, forged) (assumed: invalid_grant AADSTS50013, docs/entra.md#open-questions)', async () => {
    expectEntraError(
      await post(await userFicForm({ user_federated_identity_credential: await t1For() })),
      400,
      'invalid_grant',
      50013,
    );
    expectEntraError(
      await post(await userFicForm({ user_federated_identity_credential: await t2For(AGENT_B) })),
      400,
      'invalid_grant',
      50013,
    );
    const forgedKey = await newRsaKey();
    const forged = await new SignJWT(decodeJwt(await t2For()))
      .setProtectedHeader({ alg: 'RS256', kid: emulatorKid() })
      .sign(forgedKey.privateKey);
    expectEntraError(
      await post(await userFicForm({ user_federated_identity_credential: forged })),
      400,
      'invalid_grant',
      50013,
    );
  });

  it('refuses an expired T2 (assumed: invalid_grant AADSTS500133, docs/entra.md#open-questions)', async () => {
    const t2 = await t2For();
    clock.shiftSec = 3900 + 301;
    const r = await post(await userFicForm({ user_federated_identity_credential: t2 }));
    expectEntraError(r, 400, 'invalid_grant', 500133);
  });

  it('refuses missing consent for the agent user with invalid_grant AADSTS65001', async () => {
    expectEntraError(
      await post(await userFicForm({ scope: `${GRAPH}/Mail.Read openid` })),
      400,
      'invalid_grant',
      65001,
    );
  });

  it('requires user_federated_identity_credential and one of user_id / username (AADSTS900144)', async () => {
    expectEntraError(
      await post(await userFicForm({ user_federated_identity_credential: undefined })),
      400,
      'invalid_request',
      900144,
    );
    expectEntraError(await post(await userFicForm({ user_id: undefined })), 400, 'invalid_request', 900144);
  });
});
