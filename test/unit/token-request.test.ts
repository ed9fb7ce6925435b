import { describe, expect, it } from 'vitest';
import { GRANT_TYPE_TOKEN_EXCHANGE, MAX_FORM_BODY_BYTES, MAX_TOKEN_BYTES, TOKEN_TYPE } from '../../src/constants.ts';
import { BridgeError, toWire, type ReasonCode } from '../../src/errors.ts';
import { readStrictForm } from '../../src/token/form.ts';
import { proofTokenTypes, PLATFORMS } from '../../src/platforms.ts';
import { parseTokenRequest } from '../../src/token/request.ts';

/** Shaped like a compact JWS (the parser checks the shape of JWT proofs). */
const PROOF = 'aGVhZA.cGF5bG9hZA.c2ln';
const base = {
  grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
  subject_token: PROOF,
  subject_token_type: TOKEN_TYPE.idToken,
  resource: 'https://graph.microsoft.com',
};

function post(body: string, contentType = 'application/x-www-form-urlencoded') {
  return new Request('http://bridge.test/token', { method: 'POST', headers: { 'content-type': contentType }, body });
}

async function parse(fields: Record<string, string> | string) {
  const body = typeof fields === 'string' ? fields : new URLSearchParams(fields).toString();
  return parseTokenRequest(await readStrictForm(post(body)), proofTokenTypes(PLATFORMS));
}

async function reasonOf(p: Promise<unknown>): Promise<ReasonCode> {
  try {
    await p;
  } catch (e) {
    if (e instanceof BridgeError) return e.reason;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('POST /token form parsing (RFC 6749 §3.2, RFC 8693 §2.1)', () => {
  it('reads an autonomous request with resource → <resource>/.default', async () => {
    const r = await parse(base);
    expect(r).toMatchObject({
      mode: 'autonomous',
      resource: 'https://graph.microsoft.com',
      scopes: ['https://graph.microsoft.com/.default'],
    });
    expect(r.proof).toEqual({ token: PROOF, tokenType: TOKEN_TYPE.idToken });
  });

  it('reads an explicit /.default scope and an audience (agent id)', async () => {
    const { resource, ...rest } = base;
    void resource;
    const r = await parse({ ...rest, scope: 'api://orders/.default', audience: 'a1' });
    expect(r).toMatchObject({ resource: 'api://orders', scopes: ['api://orders/.default'], agent: 'a1' });
  });

  it('reads OBO: the user token is the subject, the proof is the actor', async () => {
    const r = await parse({
      ...base,
      subject_token: 'user-token',
      subject_token_type: TOKEN_TYPE.accessToken,
      actor_token: PROOF,
      actor_token_type: TOKEN_TYPE.jwt,
      resource: '',
      scope: 'https://graph.microsoft.com/User.Read openid',
    });
    expect(r).toMatchObject({
      mode: 'obo',
      userToken: 'user-token',
      proof: { token: PROOF, tokenType: TOKEN_TYPE.jwt },
      resource: 'https://graph.microsoft.com',
    });
    expect(r.scopes).toEqual(['https://graph.microsoft.com/User.Read', 'openid']);
  });

  it('reads agent-user mode by UPN or object id', async () => {
    expect((await parse({ ...base, agent_user: 'bot@contoso.com' })).agentUser).toEqual({ upn: 'bot@contoso.com' });
    expect((await parse({ ...base, agent_user: '0b1e2c3d-0000-4000-8000-000000000001' })).agentUser).toEqual({
      oid: '0b1e2c3d-0000-4000-8000-000000000001',
    });
  });

  const refusals: [string, () => Promise<unknown>, ReasonCode, string][] = [];
  const add = (name: string, p: () => Promise<unknown>, reason: ReasonCode) =>
    refusals.push([name, p, reason, toWire(reason).error]);
  add('JSON body', () => readStrictForm(post(JSON.stringify(base), 'application/json')), 'unsupported_media_type');
  add(
    'no content type',
    () => readStrictForm(new Request('http://b/token', { method: 'POST', body: 'a=b' })),
    'unsupported_media_type',
  );
  add('body over the cap', () => readStrictForm(post('a='.padEnd(MAX_FORM_BODY_BYTES + 10, 'x'))), 'body_too_large');
  add(
    'duplicate grant_type',
    () => parse(`${new URLSearchParams(base)}&grant_type=${encodeURIComponent(GRANT_TYPE_TOKEN_EXCHANGE)}`),
    'duplicate_parameter',
  );
  add(
    'duplicate subject_token',
    () => parse(`${new URLSearchParams(base)}&subject_token=other`),
    'duplicate_parameter',
  );
  add(
    'two resource parameters',
    () => parse(`${new URLSearchParams(base)}&resource=https%3A%2F%2Fvault.azure.net`),
    'multiple_resources',
  );
  add(
    'two audience parameters',
    () => parse(`${new URLSearchParams({ ...base, audience: 'a' })}&audience=b`),
    'multiple_audiences',
  );
  add(
    'scope and resource naming two resources',
    () => parse({ ...base, scope: 'https://vault.azure.net/.default' }),
    'multiple_resources',
  );
  add(
    'scopes of two resources',
    () =>
      parse({
        ...base,
        resource: '',
        subject_token_type: TOKEN_TYPE.accessToken,
        actor_token: 'p',
        actor_token_type: TOKEN_TYPE.jwt,
        scope: 'https://graph.microsoft.com/User.Read https://vault.azure.net/x',
      }),
    'multiple_resources',
  );
  add('missing grant_type', () => parse({ ...base, grant_type: '' }), 'missing_parameter');
  add('wrong grant_type', () => parse({ ...base, grant_type: 'client_credentials' }), 'unsupported_grant_type');
  add('missing subject_token', () => parse({ ...base, subject_token: '' }), 'missing_parameter');
  add(
    'unknown subject_token_type',
    () => parse({ ...base, subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' }),
    'unsupported_token_type',
  );
  add(
    'access_token subject without actor',
    () => parse({ ...base, subject_token_type: TOKEN_TYPE.accessToken }),
    'unsupported_token_type',
  );
  add('actor_token without type', () => parse({ ...base, actor_token: 'x' }), 'missing_parameter');
  add(
    'agent_user with OBO',
    () =>
      parse({
        ...base,
        subject_token_type: TOKEN_TYPE.accessToken,
        actor_token: 'p',
        actor_token_type: TOKEN_TYPE.jwt,
        agent_user: 'bot@contoso.com',
      }),
    'invalid_mode',
  );
  add(
    'requested_token_type other than access_token',
    () => parse({ ...base, requested_token_type: TOKEN_TYPE.idToken }),
    'unsupported_requested_token_type',
  );
  add('no scope and no resource', () => parse({ ...base, resource: '' }), 'invalid_scope');
  add('resource that is not an absolute URI', () => parse({ ...base, resource: 'graph' }), 'invalid_scope');
  add(
    'autonomous granular scope',
    () => parse({ ...base, resource: '', scope: 'https://graph.microsoft.com/User.Read.All' }),
    'invalid_scope',
  );
  add(
    'subject_token over the cap',
    () => parse({ ...base, subject_token: 'x'.repeat(MAX_TOKEN_BYTES + 1) }),
    'proof_too_large',
  );
  add('agent_user neither UPN nor GUID', () => parse({ ...base, agent_user: 'bot' }), 'agent_user_not_allowed');

  it.each(refusals)('refuses %s', async (_name, p, reason, error) => {
    expect(await reasonOf(p())).toBe(reason);
    expect(toWire(reason).error).toBe(error);
  });

  it('treats an empty parameter as omitted (RFC 6749 §3.1)', async () => {
    const r = await parse({ ...base, audience: '' });
    expect(r.agent).toBeUndefined();
  });
});
