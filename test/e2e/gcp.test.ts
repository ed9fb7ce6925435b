/**
 * The core exchange end to end over real HTTP: a GCP workload gets its ID
 * token with google-auth-library from the metadata emulator, the bridge verifies it, applies the
 * sandbox policy and runs the Entra agent flow with msal-node against the Entra emulator, which
 * fetched the bridge's discovery and JWKS over HTTP to check the bridge's assertion.
 */
import { createLocalJWKSet, decodeJwt, jwtVerify, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGcpAgentTokenSource } from '../../adapters/gcp/client.ts';
import { TOKEN_TYPE } from '../../src/constants.ts';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';
import { postToken } from '../support/http.ts';

const facets = (v: unknown) =>
  String(v ?? '')
    .split(' ')
    .filter(Boolean)
    .map(Number);

async function verifiedByEntra(sb: Sandbox, token: string): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, createLocalJWKSet(sb.entra.jwks() as never), { algorithms: ['RS256'] });
  return payload;
}

let sb: Sandbox;
const env: Record<string, string | undefined> = {};

beforeAll(async () => {
  sb = await startSandbox({ port: 0, audit: () => {} });
  for (const k of ['GCE_METADATA_HOST', 'GOOGLE_CLOUD_PROJECT', 'GOOGLE_APPLICATION_CREDENTIALS'])
    env[k] = process.env[k];
  const gcp = sb.manifest.gcp as { metadataHost: string; serviceAccount: { projectId: string } };
  process.env.GCE_METADATA_HOST = gcp.metadataHost;
  // Name the project so google-auth-library does not shell out to a local gcloud to find one.
  process.env.GOOGLE_CLOUD_PROJECT = gcp.serviceAccount.projectId;
  delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
});

afterAll(async () => {
  for (const [k, v] of Object.entries(env))
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  await sb?.close();
});

describe('GCP workload → agent identity token (end to end)', () => {
  it('the sandbox manifest names everything a script needs', async () => {
    const res = await fetch(`${sb.url}/_sandbox`);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const m = (await res.json()) as Record<string, unknown>;
    expect(m).toMatchObject({
      bridge: sb.url,
      audience: sb.url,
      tenantId: SANDBOX.tenantId,
      entra: { url: sb.entra.url },
    });
    expect(m.gcp).toMatchObject({
      metadataHost: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      audience: sb.url,
      agentId: SANDBOX.agentId,
    });
    expect(m.agents).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: SANDBOX.agentId, resources: [SANDBOX.graph, SANDBOX.api] }),
      ]),
    );
  });

  it('autonomous: google-auth-library ID token → POST /token → an app-only agent token for Graph', async () => {
    const source = createGcpAgentTokenSource({ bridgeUrl: sb.url, audience: sb.url, resource: SANDBOX.graph });
    const t = await source.getToken();
    expect(t.agentId).toBe(SANDBOX.agentId);
    // Graph app-only agent tokens live about an hour.
    expect(t.expiresAt - Date.now() / 1000).toBeGreaterThan(3000);
    const claims = await verifiedByEntra(sb, t.accessToken);
    expect(claims).toMatchObject({
      aud: SANDBOX.graph,
      iss: `https://sts.windows.net/${SANDBOX.tenantId}/`,
      appid: SANDBOX.agentId,
      oid: SANDBOX.agentId,
      idtyp: 'app',
      tid: SANDBOX.tenantId,
      xms_par_app_azp: SANDBOX.blueprintId,
      roles: ['User.Read.All'],
    });
    expect(facets(claims.xms_act_fct)).toContain(11);
    expect(facets(claims.xms_sub_fct)).toContain(11);
    // The bridge's audit shows which legs ran: a second call is served from the helper's cache.
    expect(await source.getToken()).toEqual(t);
  });

  it('autonomous for a v2 custom API: audience is the API app id, azp the agent', async () => {
    const proof = await sb.gcp.emulator.mintIdToken({ audience: sb.url, format: 'full' });
    const res = await postToken(sb.url, {
      subject_token: proof,
      subject_token_type: TOKEN_TYPE.jwt,
      scope: `${SANDBOX.api}/.default`,
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      issued_token_type: TOKEN_TYPE.accessToken,
      token_type: 'Bearer',
      scope: `${SANDBOX.api}/.default`,
      agent_id: SANDBOX.agentId,
    });
    expect(res.headers.get('cache-control')).toBe('no-store');
    const claims = decodeJwt(res.body.access_token as string);
    expect(claims).toMatchObject({ azp: SANDBOX.agentId, idtyp: 'app', roles: ['Orders.Read'] });
  });

  it("OBO: the signed-in user is the subject, the GCP workload the actor; the token is the user's, for the agent", async () => {
    const human = (
      sb.manifest.entra as { humanUser: { username: string; password: string; clientId: string; scope: string } }
    ).humanUser;
    const userToken = await sb.entra.signInUser(SANDBOX.tenantId, human);
    expect(decodeJwt(userToken).aud).toBe(SANDBOX.blueprintId);
    const source = createGcpAgentTokenSource({
      bridgeUrl: sb.url,
      audience: sb.url,
      scope: `${SANDBOX.graph}/User.Read`,
    });
    const t = await source.getToken({ userToken });
    const claims = await verifiedByEntra(sb, t.accessToken);
    expect(claims).toMatchObject({
      aud: SANDBOX.graph,
      idtyp: 'user',
      oid: SANDBOX.humanUser.oid,
      appid: SANDBOX.agentId,
      xms_par_app_azp: SANDBOX.blueprintId,
    });
    expect(String(claims.scp).split(' ')).toContain('User.Read');
    expect(facets(claims.xms_act_fct)).toContain(11);
  });

  it("agent user: the agent's own user account, via T2 and user_fic", async () => {
    const source = createGcpAgentTokenSource({
      bridgeUrl: sb.url,
      audience: sb.url,
      resource: SANDBOX.graph,
      agentUser: SANDBOX.agentUser.upn,
    });
    const t = await source.getToken();
    const claims = await verifiedByEntra(sb, t.accessToken);
    expect(claims).toMatchObject({
      aud: SANDBOX.graph,
      idtyp: 'user',
      oid: SANDBOX.agentUser.oid,
      upn: SANDBOX.agentUser.upn,
      appid: SANDBOX.agentId,
      xms_par_app_azp: SANDBOX.blueprintId,
    });
    expect(facets(claims.xms_sub_fct)).toContain(13);
    expect(facets(claims.xms_act_fct)).toContain(11);
    expect(String(claims.scp).split(' ')).toEqual(expect.arrayContaining(['User.Read', 'Mail.Send']));
    // By object id too.
    const byOid = await createGcpAgentTokenSource({
      bridgeUrl: sb.url,
      audience: sb.url,
      resource: SANDBOX.graph,
      agentUser: SANDBOX.agentUser.oid,
    }).getToken();
    expect(decodeJwt(byOid.accessToken).oid).toBe(SANDBOX.agentUser.oid);
  });

  it('the Entra emulator saw the bridge assertion fetched against the bridge discovery, and leg 2 bound to leg 1', () => {
    const legs = sb.entra.calls.map((c) => c.leg);
    expect(legs).toEqual(expect.arrayContaining(['leg1', 'leg2', 't2', 'user_fic', 'obo']));
    expect(sb.entra.calls.every((c) => c.status === 200 || c.leg === 'ropc')).toBe(true);
    expect(sb.entra.calls.filter((c) => c.leg === 'leg1').every((c) => c.fmiPath === SANDBOX.agentId)).toBe(true);
  });
});
