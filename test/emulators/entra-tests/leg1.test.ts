/**
 * The Entra emulator checks what Entra checks: Leg 1: the blueprint presents an external assertion against its FICs and gets T1.
 * Over real HTTP on 127.0.0.1 (fixtures.ts). Test names ending in "(assumed: …)" rest on an
 * inference, not on documented Entra behaviour.
 */
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from 'jose';
import { startEntraEmulator } from '../entra/index.ts';
import { guidToB64url } from '../entra/guid.ts';
import {
  AGENT,
  AGENT_OTHER,
  type AssertionOpts,
  BP,
  BP_DEAD,
  BP_NOFIC,
  BP_PRINCIPAL,
  EXCHANGE_APP,
  EXCHANGE_SCOPE,
  FIC_SUBJECT,
  GRAPH,
  TID,
  assertion,
  clock,
  deadIssuerUrl,
  emulatorKid,
  entra,
  expectEntraError,
  facets,
  issuerState,
  issuerUrl,
  key1,
  leg1Form,
  newRsaKey,
  now,
  post,
  strict,
  tenantFixture,
  useEntraEmulators,
  verified,
} from './fixtures.ts';

useEntraEmulators();

describe('leg 1: blueprint + external assertion + fmi_path → T1', () => {
  it('issues T1 with the docs/entra.md#token-claims claims and a 3900 s lifetime', async () => {
    const r = await post(await leg1Form());
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(Object.keys(r.body).sort()).toEqual(['access_token', 'expires_in', 'ext_expires_in', 'token_type']);
    expect(r.body.token_type).toBe('Bearer');
    expect(r.body.expires_in).toBe(3599);
    expect(r.body.ext_expires_in).toBe(3599);
    const t1 = await verified(r.body.access_token);
    const header = JSON.parse(Buffer.from(r.body.access_token.split('.')[0], 'base64url').toString()) as Record<
      string,
      string
    >;
    expect(header).toEqual({ alg: 'RS256', typ: 'JWT', kid: emulatorKid() });
    expect(t1).toMatchObject({
      aud: EXCHANGE_APP,
      iss: `https://login.microsoftonline.com/${TID}/v2.0`,
      azp: BP,
      azpacr: '2',
      idtyp: 'app',
      oid: BP_PRINCIPAL,
      sub: `/eid1/c/pub/t/${guidToB64url(TID)}/a/${guidToB64url(BP)}/${AGENT}`,
      tid: TID,
      ver: '2.0',
    });
    expect(t1.exp! - t1.iat!).toBe(3900);
    expect(t1.nbf).toBe(t1.iat);
    expect(typeof t1.uti).toBe('string');
    expect(facets(t1.xms_act_fct)).toEqual(expect.arrayContaining([1, 9]));
    expect(facets(t1.xms_sub_fct)).toEqual(expect.arrayContaining([1, 9]));
  });

  it('encodes GUIDs in T1 sub in .NET Guid.ToByteArray order (the real capture of docs/entra.md#token-claims)', () => {
    expect(guidToB64url('5369a35c-46a5-4677-8ff9-2e65587654e7')).toBe('XKNpU6VGd0aP-S5lWHZU5w');
    expect(guidToB64url('9d17cc32-c91b-4368-8494-1b29ccb0dbcf')).toBe('MswXnRvJaEOElBspzLDbzw');
  });

  it.each(['client_id', 'scope', 'fmi_path', 'client_assertion_type'])('requires %s (AADSTS900144)', async (name) => {
    const r = await post(await leg1Form({ [name]: undefined }));
    expectEntraError(r, 400, 'invalid_request', 900144);
    expect(r.body.error_description).toContain(`'${name}'`);
  });

  it('issue 8 item 6: requires a credential (client_credentials: AADSTS7000216, MicrosoftDocs/azure-docs#30777) and refuses a client secret (AADSTS7000215)', async () => {
    const r = await post(await leg1Form({ client_assertion: undefined, client_assertion_type: undefined }));
    expectEntraError(r, 401, 'invalid_client', 7000216);
    expect(r.body.error_description).toContain(
      "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type",
    );
    expectEntraError(
      await post(
        await leg1Form({ client_assertion: undefined, client_assertion_type: undefined, client_secret: 's3cret' }),
      ),
      401,
      'invalid_client',
      7000215,
    );
  });

  it('refuses an unknown client_id with unauthorized_client AADSTS700016', async () => {
    expectEntraError(
      await post(await leg1Form({ client_id: '12345678-0000-4000-8000-000000000000' })),
      400,
      'unauthorized_client',
      700016,
    );
  });

  it('refuses a malformed assertion with AADSTS50027', async () => {
    expectEntraError(await post(await leg1Form({ client_assertion: 'not-a-jwt' })), 400, 'invalid_request', 50027);
    expectEntraError(await post(await leg1Form({ client_assertion: 'a.b.c' })), 400, 'invalid_request', 50027);
  });

  it('refuses a non-RS256 assertion (assumed: AADSTS700027 for alg ES256, docs/entra.md#open-questions)', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const r = await post(await leg1Form({}, { alg: 'ES256', key: privateKey }));
    expectEntraError(r, 401, 'invalid_client', 700027);
    expect(issuerState.hits.discovery).toBe(0);
  });

  it('answers a blueprint without FICs with 401 invalid_client AADSTS70025', async () => {
    expectEntraError(
      await post(await leg1Form({ client_id: BP_NOFIC, fmi_path: AGENT_OTHER })),
      401,
      'invalid_client',
      70025,
    );
  });

  it.each([
    [
      'issuer has a trailing slash (Azure/azure-workload-identity#1200)',
      700211,
      (): AssertionOpts => ({ iss: `${issuerUrl}/` }),
      (o: AssertionOpts) => `issuer '${o.iss}'`,
    ],
    [
      'subject differs (Azure/login#482)',
      700213,
      (): AssertionOpts => ({ sub: 'agent-id-bridge:someone-else' }),
      (o: AssertionOpts) => `subject '${o.sub}'`,
    ],
    [
      'subject differs only in case (Azure/login#515)',
      7002138,
      (): AssertionOpts => ({ sub: FIC_SUBJECT.toUpperCase() }),
      () => 'case-insensitive comparison, but not with case-sensitive',
    ],
    [
      'audience is the GUID form (AthenZ/athenz AzureAccessTokenProviderTest)',
      700212,
      (): AssertionOpts => ({ aud: EXCHANGE_APP }),
      (o: AssertionOpts) => `audience '${String(o.aud)}'`,
    ],
    [
      "audience is another cloud's token-exchange audience (MSAL.NET fic-token-exchange-auto-resolution-design.md)",
      70022204,
      (): AssertionOpts => ({ aud: 'api://AzureADTokenExchangeUSGov' }),
      (o: AssertionOpts) => `audience '${String(o.aud)}'`,
    ],
  ])(
    'issue 8 item 6: matches FICs exactly and names the field: %s → invalid_client AADSTS%i (status 401 assumed)',
    async (_, code, make, quote) => {
      const opts = make();
      const r = await post(await leg1Form({}, opts));
      expectEntraError(r, 401, 'invalid_client', code);
      expect(r.body.error_description).toContain(quote(opts));
      expect(issuerState.hits.discovery).toBe(0); // matched on the unverified claims, before any fetch
    },
  );

  it('issue 8 item 6: answers every FIC mismatch with the legacy AADSTS70021 when told (ficErrors: legacy; Azure/azure-workload-identity troubleshooting.md)', async () => {
    const legacy = await startEntraEmulator({
      tenants: [tenantFixture(TID, issuerUrl, deadIssuerUrl)],
      allowInsecureLoopbackIssuer: true,
      clock: now,
      ficErrors: 'legacy',
    });
    try {
      for (const opts of [
        { iss: `${issuerUrl}/` },
        { sub: FIC_SUBJECT.toUpperCase() },
        { aud: EXCHANGE_APP },
      ] satisfies AssertionOpts[]) {
        const r = await post(await leg1Form({}, opts), { emu: legacy });
        expectEntraError(r, 400, 'invalid_request', 70021);
        expect(r.body.error_description).toMatch(
          /Assertion Issuer: '.*'\. Assertion Subject: '.*'\. Assertion Audience: '.*'\./,
        );
      }
      expect((await post(await leg1Form(), { emu: legacy })).status).toBe(200);
    } finally {
      await legacy.close();
    }
  });

  it.each(['https://login.microsoftonline.com/' + TID + '/v2.0', 'https://sts.windows.net/' + TID + '/'])(
    'refuses an Entra-issued assertion (%s) with AADSTS700222',
    async (iss) => {
      expectEntraError(await post(await leg1Form({}, { iss })), 400, 'invalid_request', 700222);
    },
  );

  it('fetches discovery then JWKS over HTTP, caches them, and refetches once for an unknown kid (rotation)', async () => {
    expect((await post(await leg1Form())).status).toBe(200);
    expect(issuerState.hits).toEqual({ discovery: 1, jwks: 1 });
    expect((await post(await leg1Form())).status).toBe(200);
    expect(issuerState.hits).toEqual({ discovery: 1, jwks: 1 }); // cached

    const key2 = await newRsaKey();
    issuerState.keys = [key1.publicJwk, key2.publicJwk];
    expect((await post(await leg1Form({}, { key: key2.privateKey, kid: key2.kid }))).status).toBe(200);
    expect(issuerState.hits).toEqual({ discovery: 2, jwks: 2 }); // one refetch found the new key

    const r = await post(await leg1Form({}, { kid: 'never-published' }));
    expectEntraError(r, 401, 'invalid_client', 700027);
    expect(issuerState.hits).toEqual({ discovery: 3, jwks: 3 }); // exactly one refetch, then refusal
  });

  it('refetches discovery and JWKS after the 5-minute cache TTL, and again after flushIssuerCache()', async () => {
    expect((await post(await leg1Form())).status).toBe(200);
    clock.shiftSec = 301;
    expect((await post(await leg1Form())).status).toBe(200);
    expect(issuerState.hits).toEqual({ discovery: 2, jwks: 2 });
    entra.flushIssuerCache();
    expect((await post(await leg1Form())).status).toBe(200);
    expect(issuerState.hits).toEqual({ discovery: 3, jwks: 3 });
  });

  it('fetches https issuers only unless allowInsecureLoopbackIssuer (AADSTS90061)', async () => {
    const r = await post(await leg1Form(), { emu: strict });
    expectEntraError(r, 400, 'invalid_request', 90061);
    expect(issuerState.hits.discovery).toBe(0);
  });

  it('answers an unreachable issuer, a non-2xx or a redirecting discovery with AADSTS90061', async () => {
    expectEntraError(
      await post(await leg1Form({ client_id: BP_DEAD }, { iss: deadIssuerUrl })),
      400,
      'invalid_request',
      90061,
    );
    issuerState.discoveryStatus = 500;
    expectEntraError(await post(await leg1Form()), 400, 'invalid_request', 90061);
    issuerState.discoveryStatus = 200;
    issuerState.discoveryRedirect = true;
    expectEntraError(await post(await leg1Form()), 400, 'invalid_request', 90061);
  });

  it('requires the discovery issuer to equal the assertion iss (assumed: AADSTS90061)', async () => {
    issuerState.discoveryIssuer = `${issuerUrl}/other`;
    expectEntraError(await post(await leg1Form()), 400, 'invalid_request', 90061);
    expect(issuerState.hits.jwks).toBe(0);
  });

  it('answers an unparsable JWKS with AADSTS900612', async () => {
    issuerState.jwksBody = 'this is not json';
    expectEntraError(await post(await leg1Form()), 400, 'invalid_request', 900612);
    entra.flushIssuerCache();
    issuerState.jwksBody = JSON.stringify({ notkeys: [] });
    expectEntraError(await post(await leg1Form()), 400, 'invalid_request', 900612);
  });

  it('issue 8 item 10: uses only use:"sig" keys, refusing unmarked ones (assumed: Entra "expects" use on signing keys, workload-identity-federation-spiffe-spire; refusal undocumented)', async () => {
    issuerState.keys = [{ ...key1.publicJwk, use: 'enc' }];
    expectEntraError(await post(await leg1Form()), 401, 'invalid_client', 700027);
    entra.flushIssuerCache();
    const { use: _use, ...unmarked } = key1.publicJwk;
    issuerState.keys = [unmarked];
    expectEntraError(await post(await leg1Form()), 401, 'invalid_client', 700027);
    entra.flushIssuerCache();
    issuerState.keys = [key1.publicJwk];
    expect((await post(await leg1Form())).status).toBe(200);
  });

  it('keeps only the first 100 signing keys', async () => {
    const decoy = (await newRsaKey()).publicJwk;
    const decoys = Array.from({ length: 100 }, (_, i) => ({ ...decoy, kid: `decoy-${i}` }));
    issuerState.keys = [...decoys, key1.publicJwk];
    expectEntraError(await post(await leg1Form()), 401, 'invalid_client', 700027);
    entra.flushIssuerCache();
    issuerState.keys = [...decoys.slice(0, 99), key1.publicJwk];
    expect((await post(await leg1Form())).status).toBe(200);
  });

  it('refuses a bad signature under a published kid with AADSTS700027', async () => {
    const other = await newRsaKey();
    expectEntraError(
      await post(await leg1Form({}, { key: other.privateKey, kid: key1.kid })),
      401,
      'invalid_client',
      700027,
    );
  });

  it('refuses an expired, not-yet-valid or exp-less assertion with AADSTS700024 (skew 5 min, assumed: docs/entra.md#open-questions)', async () => {
    const t = now();
    // 10 s past the skew, not 1: a second may tick between `now()` here and the emulator's own clock on a loaded machine.
    expectEntraError(
      await post(await leg1Form({}, { iat: t - 1000, nbf: t - 1000, exp: t - 310 })),
      401,
      'invalid_client',
      700024,
    );
    expectEntraError(await post(await leg1Form({}, { nbf: t + 310, exp: t + 900 })), 401, 'invalid_client', 700024);
    expectEntraError(await post(await leg1Form({}, { exp: null })), 401, 'invalid_client', 700024);
    // Within the skew: accepted. No nbf at all: accepted (Google and AWS tokens carry none, docs/entra.md#federated-credential-matching).
    expect((await post(await leg1Form({}, { iat: t - 600, nbf: t - 600, exp: t - 200 }))).status).toBe(200);
    expect((await post(await leg1Form({}, { nbf: null }))).status).toBe(200);
  });

  it('refuses assertions living over 25 h, which makes iat required (AADSTS70023, MicrosoftDocs/azure-docs#86915)', async () => {
    const t = now();
    expectEntraError(await post(await leg1Form({}, { iat: null })), 400, 'invalid_request', 70023);
    expectEntraError(await post(await leg1Form({}, { iat: t, exp: t + 25 * 3600 + 1 })), 400, 'invalid_request', 70023);
  });

  it('requires fmi_path to name a child of the blueprint (assumed: unauthorized_client AADSTS700016, docs/entra.md#open-questions)', async () => {
    expectEntraError(await post(await leg1Form({ fmi_path: AGENT_OTHER })), 400, 'unauthorized_client', 700016);
    expectEntraError(
      await post(await leg1Form({ fmi_path: '99999999-0000-4000-8000-000000000000' })),
      400,
      'unauthorized_client',
      700016,
    );
  });

  it('lets a blueprint get Graph app-only without fmi_path, and nothing else (AADSTS82001, docs/entra.md#blueprint-only-tokens)', async () => {
    const g = await post(await leg1Form({ scope: `${GRAPH}/.default`, fmi_path: undefined }));
    expect(g.status, JSON.stringify(g.body)).toBe(200);
    const claims = await verified(g.body.access_token);
    expect(claims).toMatchObject({
      aud: GRAPH,
      iss: `https://sts.windows.net/${TID}/`,
      appid: BP,
      oid: BP_PRINCIPAL,
      idtyp: 'app',
      ver: '1.0',
    });
    expectEntraError(await post(await leg1Form({ scope: `${GRAPH}/.default` })), 400, 'unauthorized_client', 82001);
    expectEntraError(
      await post(await leg1Form({ scope: 'api://weather/.default', fmi_path: undefined })),
      400,
      'unauthorized_client',
      82001,
    );
  });

  it('checks app-only scopes: granular (AADSTS1002012), several resources (AADSTS70011), unknown (AADSTS500011)', async () => {
    expectEntraError(await post(await leg1Form({ scope: `${GRAPH}/User.Read` })), 400, 'invalid_scope', 1002012);
    expectEntraError(
      await post(await leg1Form({ scope: `${EXCHANGE_SCOPE} ${GRAPH}/.default` })),
      400,
      'invalid_scope',
      70011,
    );
    expectEntraError(
      await post(await leg1Form({ scope: 'https://unknown.example/.default' })),
      400,
      'invalid_resource',
      500011,
    );
  });
});
