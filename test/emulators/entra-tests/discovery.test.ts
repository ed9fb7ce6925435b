/**
 * The Entra emulator checks what Entra checks: Discovery, signing keys, and the token endpoint's request and error shape.
 * Over real HTTP on 127.0.0.1 (fixtures.ts). Test names ending in "(assumed: …)" rest on an
 * inference, not on documented Entra behaviour.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { createEntraEmulator } from '../entra/index.ts';
import {
  AGENT,
  BP,
  TID,
  deadIssuerUrl,
  entra,
  expectEntraError,
  issuerUrl,
  leg1Form,
  post,
  tenantFixture,
  useEntraEmulators,
} from './fixtures.ts';

useEntraEmulators();

describe('discovery and signing keys', () => {
  it('issue 8 item 9: v2 discovery keeps the real-shaped issuer but points jwks_uri and endpoints at the emulator', async () => {
    const doc = (await (await fetch(`${entra.url}/${TID}/v2.0/.well-known/openid-configuration`)).json()) as Record<
      string,
      string
    >;
    expect(doc.issuer).toBe(`https://login.microsoftonline.com/${TID}/v2.0`);
    const common = (await (await fetch(`${entra.url}/common/v2.0/.well-known/openid-configuration`)).json()) as Record<
      string,
      string
    >;
    expect(common.issuer).toBe('https://login.microsoftonline.com/{tenantid}/v2.0');
    expect(doc.token_endpoint).toBe(`${entra.url}/${TID}/oauth2/v2.0/token`);
    expect(doc.authorization_endpoint).toBe(`${entra.url}/${TID}/oauth2/v2.0/authorize`);
    expect(doc.jwks_uri).toBe(`${entra.url}/${TID}/discovery/v2.0/keys`);
    expect(Object.values(doc).filter((v) => typeof v === 'string' && v.includes('login.microsoftonline.com'))).toEqual([
      doc.issuer,
    ]);
    const keys = (await (await fetch(`${entra.url}/${TID}/discovery/v2.0/keys`)).json()) as { keys: JWK[] };
    expect(keys).toEqual(entra.jwks());
    const k = keys.keys[0]!;
    expect(k).toMatchObject({ kty: 'RSA', use: 'sig', e: 'AQAB' });
    expect(Buffer.from(k.n!, 'base64url').length).toBe(256); // 2048-bit
    expect(k.kid).toBe(await calculateJwkThumbprint(k));
  });

  it('uses a configured authorityHost in discovery and in token issuers; works in-process without listening', async () => {
    const inproc = createEntraEmulator({
      tenants: [tenantFixture(TID, issuerUrl, deadIssuerUrl)],
      authorityHost: 'https://login.example.test/',
    });
    expect(inproc.url).toBe('');
    const doc = (await (await inproc.app.request(`/${TID}/v2.0/.well-known/openid-configuration`)).json()) as Record<
      string,
      string
    >;
    expect(doc.issuer).toBe(`https://login.example.test/${TID}/v2.0`);
    expect(doc.token_endpoint).toBe(`http://localhost/${TID}/oauth2/v2.0/token`); // the request's own origin
    await inproc.close();
  });

  it("issue 8 item 9: v1 discovery (was 404) names the v1 issuer and the emulator's own /discovery/keys", async () => {
    const res = await fetch(`${entra.url}/${TID}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Record<string, string>;
    expect(doc.issuer).toBe(`https://sts.windows.net/${TID}/`);
    expect(doc.jwks_uri).toBe(`${entra.url}/${TID}/discovery/keys`);
    expect(doc.token_endpoint).toBe(`${entra.url}/${TID}/oauth2/token`);
    const keys = (await (await fetch(doc.jwks_uri!)).json()) as { keys: JWK[] };
    expect(keys).toEqual(entra.jwks());
    const unknown = await fetch(`${entra.url}/99999999-9999-4999-8999-999999999999/.well-known/openid-configuration`);
    expect(((await unknown.json()) as { error_codes: number[] }).error_codes).toEqual([90002]);
  });

  it('answers an unknown tenant with AADSTS90002 and a malformed one with AADSTS900023', async () => {
    const unknown = await fetch(
      `${entra.url}/99999999-9999-4999-8999-999999999999/v2.0/.well-known/openid-configuration`,
    );
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error_codes: number[] }).error_codes).toEqual([90002]);
    const malformed = await fetch(`${entra.url}/not_a_tenant!/v2.0/.well-known/openid-configuration`);
    expect(((await malformed.json()) as { error_codes: number[] }).error_codes).toEqual([900023]);
    expectEntraError(
      await post(await leg1Form(), { tid: '99999999-9999-4999-8999-999999999999' }),
      400,
      'invalid_request',
      90002,
    );
    expectEntraError(await post(await leg1Form(), { tid: 'contoso.example' }), 400, 'invalid_request', 90002);
    expectEntraError(await post(await leg1Form(), { tid: 'bad_tenant' }), 400, 'invalid_request', 900023);
  });

  it('refuses the common, organizations and consumers tenants with AADSTS9001023', async () => {
    for (const tid of ['common', 'organizations', 'consumers']) {
      const r = await post(await leg1Form(), { tid });
      expect(r.body.error_codes).toEqual([9001023]);
      expect(r.status).toBe(400);
    }
  });

  it('rejects a directory Graph would refuse (more than 20 FICs on one blueprint)', () => {
    const t = tenantFixture(TID, issuerUrl, deadIssuerUrl);
    t.blueprints[0]!.fics = Array.from({ length: 21 }, (_, i) => ({ ...t.blueprints[0]!.fics[0]!, subject: `s${i}` }));
    expect(() => createEntraEmulator({ tenants: [t] })).toThrow(/tenants\[0\]\.blueprints\[0\]\.fics: at most 20/);
  });
});

// ─── Request shape and error shape ───

describe('token endpoint request and error shape', () => {
  it('answers with the docs/entra.md#responses-and-error-bodies error body, echoing client-request-id as correlation_id and header', async () => {
    const id = randomUUID();
    const r = await post({ grant_type: 'client_credentials', client_id: BP }, { query: `?client-request-id=${id}` });
    expectEntraError(r, 400, 'invalid_request', 900144);
    expect(r.body.correlation_id).toBe(id);
    expect(r.body.error_description).toContain(`Correlation ID: ${id}\r\n`);
    expect(r.body.error_description).toContain("'scope'");
    expect(r.headers.get('client-request-id')).toBe(id);
    expect(r.headers.get('cache-control')).toContain('no-store');
    expect(r.body.timestamp).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
  });

  it('reads form bodies only: JSON is an empty form, so grant_type is missing (AADSTS900144)', async () => {
    const r = await post(await leg1Form(), { contentType: 'application/json' });
    expectEntraError(r, 400, 'invalid_request', 900144);
    expect(r.body.error_description).toContain("'grant_type'");
  });

  it('refuses other grant types with unsupported_grant_type AADSTS70003', async () => {
    expectEntraError(
      await post({ grant_type: 'authorization_code', client_id: BP, code: 'x' }),
      400,
      'unsupported_grant_type',
      70003,
    );
    expectEntraError(
      await post({ grant_type: 'refresh_token', client_id: AGENT, refresh_token: 'x' }),
      400,
      'unsupported_grant_type',
      70003,
    );
  });

  it('ignores the extra parameters MSAL adds and the client-request-id query parameter', async () => {
    const extra = {
      'client-request-id': randomUUID(),
      'x-client-SKU': 'msal.js.node',
      'x-client-VER': '7.2.1',
      'x-client-OS': 'linux',
      'x-client-CPU': 'x64',
      'x-app-name': 'test',
      'x-app-ver': '1',
      'x-client-current-telemetry': '5|771,2,,,|,',
      'x-client-last-telemetry': '5|0|||0,0',
      'x-ms-lib-capability': 'retry-after, h429',
      claims: '{"access_token":{"xms_cc":{"values":["cp1"]}}}',
    };
    const r = await post(await leg1Form(extra), { query: `?client-request-id=${extra['client-request-id']}` });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  });
});
