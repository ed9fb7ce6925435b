/**
 * Shared fixtures of the Entra emulator tests (what is checked and why: docs/entra.md): the emulated
 * directory, a small loopback OIDC issuer (the "bridge" as Entra sees it, counting its discovery and
 * JWKS hits), both emulators (loopback http issuers allowed, and the strict real-Entra rule), and the
 * request helpers. Each test file calls useEntraEmulators() once.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import {
  calculateJwkThumbprint,
  compactVerify,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type JWK,
  type JWTPayload,
} from 'jose';
import { startEntraEmulator, type EntraEmulator } from '../entra/index.ts';
import type { EmulatedTenant } from '../entra/model.ts';

// ─── Directory ───

export const TID = '11111111-2222-4333-8444-555555555555';
export const TID2 = '22222222-3333-4444-8555-666666666666';
export const BP = 'aaaaaaaa-0000-4000-8000-000000000001';
export const BP_PRINCIPAL = 'aaaaaaaa-0000-4000-8000-0000000000a1';
export const BP_NOFIC = 'aaaaaaaa-0000-4000-8000-000000000002';
export const BP_DEAD = 'aaaaaaaa-0000-4000-8000-000000000003';
export const AGENT = 'bbbbbbbb-0000-4000-8000-000000000001';
export const AGENT_B = 'bbbbbbbb-0000-4000-8000-000000000002'; // second child of BP
export const AGENT_OTHER = 'bbbbbbbb-0000-4000-8000-000000000003'; // child of BP_NOFIC
export const AGENT_USER = 'cccccccc-0000-4000-8000-000000000001';
export const AGENT_USER_UPN = 'agent-one@contoso.test';
export const AGENT_USER_B = 'cccccccc-0000-4000-8000-000000000002';
export const HUMAN = 'dddddddd-0000-4000-8000-000000000001';
export const HUMAN_UPN = 'alice@contoso.test';
export const HUMAN_PW = 'correct horse battery staple';
export const CLIENT_APP = 'eeeeeeee-0000-4000-8000-000000000001';
export const WEATHER_APP = 'ffffffff-0000-4000-8000-000000000001';
export const GRAPH = 'https://graph.microsoft.com';
export const EXCHANGE_APP = 'fb60f99c-7a34-4190-8149-302f77469936';
export const EXCHANGE_SCOPE = 'api://AzureADTokenExchange/.default';
export const FIC_SUBJECT = 'agent-id-bridge:test:blueprint';
export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

export function tenantFixture(tenantId: string, issuerUrl: string, deadIssuerUrl: string): EmulatedTenant {
  const fic = {
    name: 'bridge',
    issuer: issuerUrl,
    subject: FIC_SUBJECT,
    audiences: ['api://AzureADTokenExchange'] as [string],
  };
  return {
    tenantId,
    blueprints: [
      { appId: BP, displayName: 'Blueprint', principalId: BP_PRINCIPAL, fics: [fic], exposedScopes: ['access_agent'] },
      {
        appId: BP_NOFIC,
        displayName: 'No FIC',
        principalId: 'aaaaaaaa-0000-4000-8000-0000000000a2',
        fics: [],
        exposedScopes: ['access_agent'],
      },
      {
        appId: BP_DEAD,
        displayName: 'Dead issuer',
        principalId: 'aaaaaaaa-0000-4000-8000-0000000000a3',
        fics: [{ ...fic, issuer: deadIssuerUrl }],
        exposedScopes: [],
      },
    ],
    agents: [
      {
        appId: AGENT,
        displayName: 'Agent One',
        parentBlueprintId: BP,
        appRoles: { [GRAPH]: ['User.Read.All'] },
        delegatedGrants: [
          { principalId: HUMAN, resource: GRAPH, scopes: ['User.Read', 'Mail.Read'] },
          { principalId: HUMAN, resource: 'api://weather', scopes: ['forecast.read'] },
          { principalId: AGENT_USER, resource: GRAPH, scopes: ['User.Read', 'email'] },
        ],
      },
      { appId: AGENT_B, displayName: 'Agent B', parentBlueprintId: BP, appRoles: {}, delegatedGrants: [] },
      {
        appId: AGENT_OTHER,
        displayName: 'Agent Other',
        parentBlueprintId: BP_NOFIC,
        appRoles: {},
        delegatedGrants: [],
      },
    ],
    agentUsers: [
      { oid: AGENT_USER, upn: AGENT_USER_UPN, displayName: 'Agent One (user)', identityParentId: AGENT },
      { oid: AGENT_USER_B, upn: 'agent-b@contoso.test', displayName: 'Agent B (user)', identityParentId: AGENT_B },
    ],
    humanUsers: [{ oid: HUMAN, upn: HUMAN_UPN, displayName: 'Alice', password: HUMAN_PW }],
    clientApps: [{ appId: CLIENT_APP, displayName: 'Client app' }],
    resources: [
      { uri: GRAPH, appId: '00000003-0000-0000-c000-000000000000', accessTokenVersion: 1, lifetimeSec: 29100 },
      { uri: 'api://weather', appId: WEATHER_APP, accessTokenVersion: 2, lifetimeSec: 3599 },
    ],
  };
}

// ─── A loopback OIDC issuer (the "bridge" as Entra sees it) ───

export interface IssuerKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function newRsaKey(): Promise<IssuerKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, privateKey, publicJwk: { ...jwk, kid, use: 'sig', alg: 'RS256' } };
}

export const issuerState = {
  hits: { discovery: 0, jwks: 0 },
  keys: [] as JWK[],
  discoveryStatus: 200,
  discoveryIssuer: undefined as string | undefined,
  discoveryRedirect: false,
  jwksBody: undefined as string | undefined,
};

let issuerServer: Server;
export let issuerUrl = '';
export let deadIssuerUrl = '';
export let key1: IssuerKey;

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

// ─── Emulators ───

/** Tests move the emulators' clock with `clock.shiftSec`; it is reset after each test. */
export const clock = { shiftSec: 0 };
export const now = (): number => Math.floor(Date.now() / 1000) + clock.shiftSec;
export let entra: EntraEmulator; // allows the loopback http issuer
export let strict: EntraEmulator; // real-Entra rule: https issuers only

/** Starts the loopback issuer and both emulators for the calling test file, and resets them between tests. */
export function useEntraEmulators(): void {
  beforeAll(async () => {
    key1 = await newRsaKey();
    issuerServer = createServer((req, res) => {
      const send = (status: number, body: string, headers: Record<string, string> = {}): void => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(body);
      };
      if (req.url === '/.well-known/openid-configuration') {
        issuerState.hits.discovery++;
        if (issuerState.discoveryRedirect) return send(302, '', { location: `${issuerUrl}/elsewhere` });
        if (issuerState.discoveryStatus !== 200) return send(issuerState.discoveryStatus, '{}');
        return send(
          200,
          JSON.stringify({
            issuer: issuerState.discoveryIssuer ?? issuerUrl,
            jwks_uri: `${issuerUrl}/jwks`,
            id_token_signing_alg_values_supported: ['RS256'],
          }),
        );
      }
      if (req.url === '/jwks') {
        issuerState.hits.jwks++;
        return send(200, issuerState.jwksBody ?? JSON.stringify({ keys: issuerState.keys }));
      }
      send(404, '{}');
    });
    issuerUrl = await listen(issuerServer);
    const dead = createServer();
    deadIssuerUrl = await listen(dead);
    await new Promise<void>((r) => dead.close(() => r()));

    const tenants = [tenantFixture(TID, issuerUrl, deadIssuerUrl), tenantFixture(TID2, issuerUrl, deadIssuerUrl)];
    entra = await startEntraEmulator({ tenants, allowInsecureLoopbackIssuer: true, clock: now });
    strict = await startEntraEmulator({ tenants, clock: now });
  });

  afterAll(async () => {
    await entra?.close();
    await strict?.close();
    await new Promise<void>((r) => (issuerServer ? issuerServer.close(() => r()) : r()));
  });

  beforeEach(() => {
    issuerState.hits = { discovery: 0, jwks: 0 };
    issuerState.keys = [key1.publicJwk];
    issuerState.discoveryStatus = 200;
    issuerState.discoveryIssuer = undefined;
    issuerState.discoveryRedirect = false;
    issuerState.jwksBody = undefined;
    entra.flushIssuerCache();
    entra.clearFaults();
    entra.resetCalls();
  });

  afterEach(() => {
    clock.shiftSec = 0;
  });
}

// ─── Helpers ───

export interface AssertionOpts {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  alg?: string;
  kid?: string | null;
  key?: CryptoKey;
  iat?: number | null;
  nbf?: number | null;
  exp?: number | null;
}

/** An external assertion from the loopback issuer; times follow the emulator's clock. */
export async function assertion(o: AssertionOpts = {}): Promise<string> {
  const t = now();
  const claims: JWTPayload = {
    iss: o.iss ?? issuerUrl,
    sub: o.sub ?? FIC_SUBJECT,
    aud: o.aud ?? 'api://AzureADTokenExchange',
    jti: randomUUID(),
  };
  if (o.iat !== null) claims.iat = o.iat ?? t;
  if (o.nbf !== null) claims.nbf = o.nbf ?? t;
  if (o.exp !== null) claims.exp = o.exp ?? t + 300;
  const header = { alg: o.alg ?? 'RS256', typ: 'JWT', ...(o.kid === null ? {} : { kid: o.kid ?? key1.kid }) };
  return new SignJWT(claims).setProtectedHeader(header).sign(o.key ?? key1.privateKey);
}

export interface Res {
  status: number;
  body: Record<string, any>;
  headers: Headers;
}

export async function post(
  form: Record<string, string>,
  o: { tid?: string; emu?: EntraEmulator; query?: string; contentType?: string } = {},
): Promise<Res> {
  const emu = o.emu ?? entra;
  const res = await fetch(`${emu.url}/${o.tid ?? TID}/oauth2/v2.0/token${o.query ?? ''}`, {
    method: 'POST',
    headers: { 'content-type': o.contentType ?? 'application/x-www-form-urlencoded' },
    body: o.contentType?.includes('json') ? JSON.stringify(form) : new URLSearchParams(form).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any>, headers: res.headers };
}

export async function leg1Form(
  over: Record<string, string | undefined> = {},
  a?: AssertionOpts,
): Promise<Record<string, string>> {
  const form: Record<string, string | undefined> = {
    client_id: BP,
    scope: EXCHANGE_SCOPE,
    fmi_path: AGENT,
    grant_type: 'client_credentials',
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: await assertion(a),
    ...over,
  };
  return Object.fromEntries(Object.entries(form).filter((e): e is [string, string] => e[1] !== undefined));
}

export async function t1For(agent = AGENT, tid = TID): Promise<string> {
  const r = await post(await leg1Form({ fmi_path: agent }), { tid });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.access_token as string;
}

export async function agentForm(
  scope: string,
  t1: string,
  agent = AGENT,
  over: Record<string, string> = {},
): Promise<Record<string, string>> {
  return {
    client_id: agent,
    scope,
    grant_type: 'client_credentials',
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: t1,
    ...over,
  };
}

export async function t2For(agent = AGENT): Promise<string> {
  const r = await post(await agentForm(EXCHANGE_SCOPE, await t1For(agent), agent));
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.access_token as string;
}

export const signIn = (scope = `api://${BP}/access_agent`): Promise<string> =>
  entra.signInUser(TID, { clientId: CLIENT_APP, username: HUMAN_UPN, password: HUMAN_PW, scope });

export async function oboForm(
  tc: string,
  scope: string,
  t1?: string,
  over: Record<string, string> = {},
): Promise<Record<string, string>> {
  return {
    client_id: AGENT,
    scope,
    grant_type: JWT_BEARER,
    requested_token_use: 'on_behalf_of',
    assertion: tc,
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: t1 ?? (await t1For()),
    ...over,
  };
}

export async function userFicForm(over: Record<string, string | undefined> = {}): Promise<Record<string, string>> {
  const form: Record<string, string | undefined> = {
    client_id: AGENT,
    scope: `${GRAPH}/.default openid profile offline_access`,
    grant_type: 'user_fic',
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: await t1For(),
    user_federated_identity_credential: await t2For(),
    user_id: AGENT_USER,
    client_info: '1',
    ...over,
  };
  return Object.fromEntries(Object.entries(form).filter((e): e is [string, string] => e[1] !== undefined));
}

/** The docs/entra.md#responses-and-error-bodies error shape, and the code the test expects. */
export function expectEntraError(r: Res, status: number, error: string, code: number): void {
  expect({ status: r.status, error: r.body.error, codes: r.body.error_codes }, r.body.error_description).toEqual({
    status,
    error,
    codes: [code],
  });
  expect(Object.keys(r.body).sort()).toEqual([
    'correlation_id',
    'error',
    'error_codes',
    'error_description',
    'error_uri',
    'timestamp',
    'trace_id',
  ]);
  expect(r.body.error_description).toMatch(
    new RegExp(
      `^AADSTS${code}: .+\\r\\nTrace ID: [0-9a-f-]{36}\\r\\nCorrelation ID: [0-9a-f-]{36}\\r\\nTimestamp: \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ$`,
      's',
    ),
  );
  expect(r.body.error_uri).toBe(`https://login.microsoftonline.com/error?code=${code}`);
}

/** Verifies an emulator token against the JWKS the emulator publishes over HTTP, then returns its claims. */
export async function verified(token: string, tid = TID): Promise<JWTPayload> {
  const jwks = (await (await fetch(`${entra.url}/${tid}/discovery/v2.0/keys`)).json()) as { keys: JWK[] };
  const { payload } = await compactVerify(token, createLocalJWKSet(jwks), { algorithms: ['RS256'] });
  return JSON.parse(new TextDecoder().decode(payload)) as JWTPayload;
}

export const facets = (v: unknown): number[] => String(v).split(' ').map(Number);
export const emulatorKid = (): string => (entra.jwks().keys[0] as { kid: string }).kid;
