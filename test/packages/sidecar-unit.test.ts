/**
 * The sidecar's request handling without a bridge (issue 10 item 2): query parsing as Microsoft's
 * clients send it, scope normalisation, mode choice, the caller check, configuration and proof
 * detection. test/packages/sidecar.test.ts drives the same code with Microsoft's real client.
 */
import { describe, expect, it } from 'vitest';
import {
  createSidecarHandler,
  detectProof,
  isLoopbackAddress,
  loadSidecarConfig,
  normaliseScopes,
  parseListen,
  parseQuery,
  planExchange,
  SidecarConfigError,
  SidecarProblem,
  type LogLine,
  type SidecarConfig,
} from '../../adapters/sidecar/src/index.ts';
import { createProof } from '../../adapters/sidecar/src/proof.ts';
import { TOKEN_TYPE } from '../../adapters/client/src/index.ts';
import { defaultsFor } from '../../adapters/sidecar/src/config.ts';

const AGENT = 'a9e00000-0000-4000-8000-000000000001';
const USER_OID = 'a9e00ee4-0000-4000-8000-000000000001';
const noSystemFiles = { readSystemFile: () => undefined };

function problemOf(fn: () => unknown): SidecarProblem {
  try {
    fn();
  } catch (e) {
    if (e instanceof SidecarProblem) return e;
    throw e;
  }
  throw new Error('expected a SidecarProblem');
}

describe('sidecar: query parameters as Microsoft clients send them', () => {
  it('issue 10 item 2: AgentIdentity, AgentUsername, repeated optionsOverride.Scopes, RequestAppToken, Tenant and ForceRefresh are read, names in any case', () => {
    const q = parseQuery(
      new URLSearchParams(
        'agentidentity=' +
          AGENT +
          '&AgentUsername=agent-one%40sandbox.example&optionsOverride.Scopes=https%3A%2F%2Fgraph.microsoft.com%2FUser.Read' +
          '&OPTIONSOVERRIDE.SCOPES=Mail.Read%20Mail.Send&optionsOverride.RequestAppToken=False' +
          '&optionsOverride.AcquireTokenOptions.Tenant=5a4d0b1e-0000-4000-8000-00000000a11d&optionsOverride.AcquireTokenOptions.ForceRefresh=TRUE',
      ),
    );
    expect(q).toEqual({
      agentIdentity: AGENT,
      agentUsername: 'agent-one@sandbox.example',
      agentUserId: undefined,
      scopes: ['https://graph.microsoft.com/User.Read', 'Mail.Read', 'Mail.Send'],
      requestAppToken: false,
      tenant: '5a4d0b1e-0000-4000-8000-00000000a11d',
      forceRefresh: true,
    });
  });

  it('issue 10 item 2: a single-valued parameter given twice, and a boolean that is not true or false, are 400', () => {
    expect(
      problemOf(() => parseQuery(new URLSearchParams(`AgentIdentity=${AGENT}&agentIdentity=${AGENT}`))),
    ).toMatchObject({
      status: 400,
      code: 'invalid_parameter',
    });
    expect(problemOf(() => parseQuery(new URLSearchParams('optionsOverride.RequestAppToken=yes'))).title).toMatch(
      /RequestAppToken must be true or false/,
    );
  });

  it('issue 10 item 2: a PoP key or a claims challenge is refused, not silently dropped; downstream-call options are ignored', () => {
    expect(
      problemOf(() => parseQuery(new URLSearchParams('optionsOverride.AcquireTokenOptions.PopPublicKey=abc'))),
    ).toMatchObject({
      status: 400,
      code: 'unsupported_option',
    });
    expect(
      parseQuery(new URLSearchParams('optionsOverride.BaseUrl=https://evil.example&optionsOverride.RelativePath=me'))
        .scopes,
    ).toEqual([]);
  });
});

describe('sidecar: scope normalisation', () => {
  it('issue 10 item 2 (Microsoft documents no completion rule; the Agents SDK appends /.default itself): an app token scope that is a bare resource becomes <resource>/.default', () => {
    expect(normaliseScopes(['https://graph.microsoft.com'], true)).toEqual({
      resource: 'https://graph.microsoft.com',
      scopes: ['https://graph.microsoft.com/.default'],
    });
    expect(normaliseScopes(['api://sandbox-api/', 'api://sandbox-api/.DEFAULT'], true).scopes).toEqual([
      'api://sandbox-api/.default',
    ]);
    expect(normaliseScopes(['5a807f24-c9de-44ee-a3a7-329e88a00ffc'], true).scopes).toEqual([
      '5a807f24-c9de-44ee-a3a7-329e88a00ffc/.default',
    ]);
  });

  it('issue 10 item 2 (Microsoft’s sidecar answers IDW10404 as a 500 here; this is a 400): an app token with a named permission is refused, naming the /.default to ask for', () => {
    const p = problemOf(() => normaliseScopes(['https://graph.microsoft.com/User.Read'], true));
    expect(p).toMatchObject({ status: 400, code: 'app_token_scope' });
    expect(p.title).toContain('https://graph.microsoft.com/.default');
    expect(problemOf(() => normaliseScopes(['openid', 'https://graph.microsoft.com/.default'], true)).code).toBe(
      'app_token_scope',
    );
  });

  it('issue 10 item 2: a user token’s permission without a resource is Microsoft Graph’s; several scopes of one resource are one request', () => {
    expect(
      normaliseScopes(['User.Read', 'https://graph.microsoft.com/Mail.Send', 'User.Read', 'openid'], false),
    ).toEqual({
      resource: 'https://graph.microsoft.com',
      scopes: ['https://graph.microsoft.com/User.Read', 'https://graph.microsoft.com/Mail.Send', 'openid'],
    });
  });

  it('issue 10 item 2: scopes of several resources are a 400 naming them', () => {
    const p = problemOf(() => normaliseScopes(['User.Read', 'api://sandbox-api/Orders.Read'], false));
    expect(p).toMatchObject({ status: 400, code: 'multiple_resources' });
    expect(p.title).toContain('https://graph.microsoft.com, api://sandbox-api');
  });
});

describe('sidecar: which exchange a request asks for', () => {
  const query = (s: string) => parseQuery(new URLSearchParams(s));
  const graph = { scopes: ['https://graph.microsoft.com/.default'], source: 'AGENT_ID_BRIDGE_SCOPES_GRAPH' };

  it('issue 10 item 2: RequestAppToken=true or AgentIdentity alone is autonomous; AgentUsername/AgentUserId agent_user; the authenticated form obo', () => {
    expect(planExchange('unauthenticated', 'graph', query(`AgentIdentity=${AGENT}`), undefined, graph)).toMatchObject({
      mode: 'autonomous',
      agent: AGENT,
      scope: 'https://graph.microsoft.com/.default',
    });
    expect(
      planExchange(
        'unauthenticated',
        'x',
        query('optionsOverride.RequestAppToken=true&optionsOverride.Scopes=api://sandbox-api'),
        undefined,
        undefined,
      ),
    ).toMatchObject({ mode: 'autonomous', agent: undefined, scope: 'api://sandbox-api/.default' });
    expect(
      planExchange(
        'unauthenticated',
        'graph',
        query(`AgentIdentity=${AGENT}&AgentUserId=${USER_OID}&optionsOverride.Scopes=User.Read`),
        undefined,
        graph,
      ),
    ).toMatchObject({ mode: 'agent_user', agentUser: USER_OID, scope: 'https://graph.microsoft.com/User.Read' });
    expect(
      planExchange('authenticated', 'graph', query(`AgentIdentity=${AGENT}`), 'Bearer user.jwt.token', graph),
    ).toMatchObject({
      mode: 'obo',
      userToken: 'user.jwt.token',
    });
    expect(
      planExchange(
        'authenticated',
        'graph',
        query('optionsOverride.RequestAppToken=true'),
        'Bearer user.jwt.token',
        graph,
      ),
    ).toMatchObject({ mode: 'autonomous', userToken: undefined });
  });

  it('issue 10 item 2: the authenticated form without a Bearer token is 401 saying to send one or use the unauthenticated form', () => {
    const p = problemOf(() => planExchange('authenticated', 'graph', query(''), undefined, graph));
    expect(p).toMatchObject({ status: 401, code: 'user_token_required' });
    expect(p.title).toMatch(/Authorization: Bearer/);
  });

  it('issue 10 item 2: the blueprint token is 403, asked by service name or by the token-exchange scope', () => {
    for (const [service, q] of [
      ['agenticblueprint', `AgentIdentity=${AGENT}`],
      ['AgenticBlueprint', ''],
      ['graph', 'optionsOverride.RequestAppToken=true&optionsOverride.Scopes=api://AzureADTokenExchange/.default'],
      ['graph', 'optionsOverride.RequestAppToken=true&optionsOverride.Scopes=api://AzureADTokenExchange'],
    ] as const) {
      const p = problemOf(() => planExchange('unauthenticated', service, query(q), undefined, graph));
      expect(p).toMatchObject({ status: 403, code: 'blueprint_token_refused' });
      expect(p.title).toMatch(/never hands out the blueprint token/);
    }
  });

  it('issue 10 item 2: a service name without configured scopes and without optionsOverride.Scopes names the variable to set', () => {
    const p = problemOf(() =>
      planExchange('unauthenticated', 'my-api', query(`AgentIdentity=${AGENT}`), undefined, undefined),
    );
    expect(p).toMatchObject({ status: 400, code: 'no_scopes' });
    expect(p.title).toContain('AGENT_ID_BRIDGE_SCOPES_MY_API=');
  });

  it('issue 10 item 2 (Microsoft’s docs require AgentIdentity with AgentUsername; here the bridge’s policy may supply the agent): an agent user without AgentIdentity is agent_user mode', () => {
    expect(
      planExchange('unauthenticated', 'graph', query('AgentUsername=a@b.example'), undefined, graph),
    ).toMatchObject({
      mode: 'agent_user',
      agent: undefined,
      agentUser: 'a@b.example',
    });
  });

  it('issue 10 item 2: AgentUsername with AgentUserId, a malformed AgentUserId, and RequestAppToken with an agent user are 400', () => {
    for (const q of [
      `AgentIdentity=${AGENT}&AgentUsername=a@b.example&AgentUserId=${USER_OID}`,
      `AgentIdentity=${AGENT}&AgentUserId=not-a-guid`,
      `AgentIdentity=${AGENT}&AgentUsername=a@b.example&optionsOverride.RequestAppToken=true`,
      'AgentIdentity=sandbox-agent-one',
    ])
      expect(problemOf(() => planExchange('unauthenticated', 'graph', query(q), undefined, graph)).status).toBe(400);
  });
});

function config(over: Partial<SidecarConfig> = {}): SidecarConfig {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    bridgeUrl: 'http://127.0.0.1:9',
    audience: 'http://127.0.0.1:9',
    proof: { kind: 'command', command: 'echo x' },
    proofBecause: 'AGENT_ID_BRIDGE_PROOF',
    services: new Map(),
    allowNonLoopbackCallers: false,
    ignored: [],
    ...over,
  };
}

describe('sidecar: who may call it', () => {
  it('issue 10 item 2: loopback addresses, in IPv4, IPv6 and IPv4-mapped form, are loopback; others are not', () => {
    for (const a of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) expect(isLoopbackAddress(a)).toBe(true);
    for (const a of ['192.0.2.2', '::ffff:10.0.0.1', 'fd00::2', '0.0.0.0', undefined])
      expect(isLoopbackAddress(a)).toBe(false);
  });

  it('issue 10 item 2: a non-loopback caller gets 403 before anything is exchanged; /healthz stays open for probes', async () => {
    let proofs = 0;
    const handler = createSidecarHandler(config(), {
      proof: async () => {
        proofs++;
        return { token: 'x', tokenType: TOKEN_TYPE.jwt };
      },
      fetch: async () => new Response('{}', { status: 200 }),
    });
    const res = await handler({
      method: 'GET',
      url: `/AuthorizationHeaderUnauthenticated/graph?AgentIdentity=${AGENT}&optionsOverride.Scopes=https://graph.microsoft.com/.default`,
      headers: { host: 'localhost:5178' },
      remoteAddress: '192.0.2.2',
    });
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(res.body)).toMatchObject({
      type: 'urn:agent-id-bridge:sidecar:caller_not_loopback',
      status: 403,
    });
    expect(proofs).toBe(0);
    const health = await handler({ method: 'GET', url: '/healthz', headers: {}, remoteAddress: '192.0.2.2' });
    expect(health.status).toBe(200);
  });

  it('issue 10 item 2: a Host header that is not a loopback name (DNS rebinding) gets 403', async () => {
    const handler = createSidecarHandler(config(), { proof: async () => ({ token: 'x', tokenType: TOKEN_TYPE.jwt }) });
    const res = await handler({
      method: 'GET',
      url: '/AuthorizationHeaderUnauthenticated/graph',
      headers: { host: 'rebound.attacker.example:5178' },
      remoteAddress: '127.0.0.1',
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).type).toBe('urn:agent-id-bridge:sidecar:host_not_loopback');
  });

  it('issue 10 item 2: --allow-non-loopback-callers lets another address and host name through to the request itself', async () => {
    const handler = createSidecarHandler(config({ allowNonLoopbackCallers: true }), {
      proof: async () => ({ token: 'x', tokenType: TOKEN_TYPE.jwt }),
    });
    const res = await handler({
      method: 'GET',
      url: '/AuthorizationHeaderUnauthenticated/agenticblueprint',
      headers: { host: 'sidecar:5178' },
      remoteAddress: '192.0.2.2',
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).type).toBe('urn:agent-id-bridge:sidecar:blueprint_token_refused');
  });
});

describe('sidecar: configuration', () => {
  const base = { AGENT_ID_BRIDGE_URL: 'https://bridge.example.com/', AGENT_ID_BRIDGE_PROOF: 'aws-sigv4' };

  it('issue 10 item 2: --listen defaults to 127.0.0.1:5178 and takes host:port and [v6]:port', () => {
    expect(loadSidecarConfig(base, [], noSystemFiles).listen).toEqual({ host: '127.0.0.1', port: 5178 });
    expect(loadSidecarConfig(base, ['--listen', '127.0.0.1:0'], noSystemFiles).listen).toEqual({
      host: '127.0.0.1',
      port: 0,
    });
    expect(parseListen('[::1]:5178')).toEqual({ host: '::1', port: 5178 });
    expect(() => parseListen('5178')).toThrow(SidecarConfigError);
  });

  it('issue 10 item 2: AGENT_ID_BRIDGE_URL must be https, or http to loopback; the audience defaults to it', () => {
    const c = loadSidecarConfig(base, [], noSystemFiles);
    expect(c).toMatchObject({ bridgeUrl: 'https://bridge.example.com', audience: 'https://bridge.example.com' });
    expect(() =>
      loadSidecarConfig({ ...base, AGENT_ID_BRIDGE_URL: 'http://bridge.example.com' }, [], noSystemFiles),
    ).toThrow(/must be https/);
    expect(() => loadSidecarConfig({ AGENT_ID_BRIDGE_PROOF: 'gcp' }, [], noSystemFiles)).toThrow(
      /AGENT_ID_BRIDGE_URL: not set/,
    );
    expect(
      loadSidecarConfig({ ...base, AGENT_ID_BRIDGE_URL: 'http://127.0.0.1:8787' }, [], noSystemFiles).bridgeUrl,
    ).toBe('http://127.0.0.1:8787');
  });

  it('issue 10 item 2: AGENT_ID_BRIDGE_SCOPES_<SERVICENAME> and Microsoft’s DownstreamApis__<Name>__Scopes give a service name its scopes; Microsoft’s secrets are named as ignored', () => {
    const c = loadSidecarConfig(
      {
        ...base,
        AGENT_ID_BRIDGE_SCOPES_MY_API: 'api://sandbox-api/.default',
        DownstreamApis__Graph__Scopes: 'User.Read Mail.Read',
        DownstreamApis__Orders__Scopes__0: 'api://sandbox-api/.default',
        DownstreamApis__Orders__RequestAppToken: 'true',
        AzureAd__ClientCredentials__0__ClientSecret: 'do-not-print-me',
      },
      [],
      noSystemFiles,
    );
    const plan = (service: string, q = '') =>
      planExchange('unauthenticated', service, parseQuery(new URLSearchParams(q)), undefined, defaultsFor(c, service));
    expect(plan('my-api', `AgentIdentity=${AGENT}`).scope).toBe('api://sandbox-api/.default');
    expect(plan('graph', `AgentIdentity=${AGENT}&AgentUsername=a@b.example`).scope).toBe(
      'https://graph.microsoft.com/User.Read https://graph.microsoft.com/Mail.Read',
    );
    expect(plan('orders')).toMatchObject({ mode: 'autonomous', scope: 'api://sandbox-api/.default' });
    expect(c.ignored.join(' ')).toContain('AzureAd__ClientCredentials');
    expect(JSON.stringify(c)).not.toContain('do-not-print-me');
  });

  it('issue 10 item 2: AGENT_ID_BRIDGE_PROOF takes aws-sigv4, aws-web-identity, gcp, file:<path>, command:<cmd> and nothing else', () => {
    for (const [value, kind] of [
      ['aws-sigv4', 'aws-sigv4'],
      ['aws-web-identity', 'aws-web-identity'],
      ['gcp', 'gcp'],
      ['file:/var/run/secrets/tokens/bridge', 'file'],
      ['command:cat /tmp/token', 'command'],
    ])
      expect(loadSidecarConfig({ ...base, AGENT_ID_BRIDGE_PROOF: value }, [], noSystemFiles).proof.kind).toBe(kind);
    expect(() => loadSidecarConfig({ ...base, AGENT_ID_BRIDGE_PROOF: 'password' }, [], noSystemFiles)).toThrow(
      SidecarConfigError,
    );
  });

  it('issue 10 item 2: without AGENT_ID_BRIDGE_PROOF the platform is detected; both or neither is refused', () => {
    expect(detectProof({ env: { AWS_LAMBDA_FUNCTION_NAME: 'f' }, ...noSystemFiles }).spec).toEqual({
      kind: 'aws-sigv4',
    });
    expect(detectProof({ env: { K_SERVICE: 'svc' }, ...noSystemFiles }).spec).toEqual({ kind: 'gcp' });
    expect(
      detectProof({
        env: {},
        readSystemFile: (p) => (p.endsWith('product_name') ? 'Google Compute Engine\n' : undefined),
      }).spec,
    ).toEqual({ kind: 'gcp' });
    expect(() => detectProof({ env: { AWS_ACCESS_KEY_ID: 'x', GCE_METADATA_HOST: 'y' }, ...noSystemFiles })).toThrow(
      /both AWS/,
    );
    expect(() => detectProof({ env: {}, ...noSystemFiles })).toThrow(/no platform detected/);
  });
});

describe('sidecar: command and failing proof sources', () => {
  it('issue 10 item 2: command:<cmd> proves with its standard output; a failing command is a retryable 503 that never repeats its output or error stream', async () => {
    const ok = await createProof({ kind: 'command', command: "printf ' header.payload.signature\\n'" }, 'unused');
    expect(await ok()).toEqual({ token: 'header.payload.signature', tokenType: TOKEN_TYPE.jwt });

    const failing = await createProof(
      { kind: 'command', command: 'echo leaked-secret; echo leaked-stderr >&2; exit 3' },
      'unused',
    );
    await expect(failing()).rejects.toThrow(/^command:echo \.\.\. exited with code 3$/);
    const logs: LogLine[] = [];
    const handler = createSidecarHandler(config(), { proof: failing, log: (l) => logs.push(l) });
    const res = await handler({
      method: 'GET',
      url: '/AuthorizationHeaderUnauthenticated/graph?optionsOverride.RequestAppToken=true&optionsOverride.Scopes=https://graph.microsoft.com',
      headers: { host: 'localhost:5178' },
      remoteAddress: '127.0.0.1',
    });
    expect(res.status).toBe(503);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    const body = JSON.parse(res.body) as { type: string; title: string };
    expect(body.type).toBe('urn:agent-id-bridge:sidecar:proof_unavailable');
    expect(body.title).toMatch(/^The platform proof \(command:echo \.\.\.\) could not be obtained/);
    expect(res.body + JSON.stringify(logs)).not.toMatch(/leaked-/);
    expect(logs[0]).toMatchObject({
      route: 'AuthorizationHeaderUnauthenticated',
      service: '(unconfigured)',
      status: 503,
    });
    await handler({
      method: 'GET',
      url: '/AuthorizationHeaderUnauthenticated/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl',
      headers: {},
      remoteAddress: '127.0.0.1',
    });
    expect(JSON.stringify(logs)).not.toContain('eyJ');
    const health = await handler({ method: 'GET', url: '/healthz', headers: {}, remoteAddress: '127.0.0.1' });
    expect(health.status).toBe(503);
    expect(JSON.parse(health.body).type).toBe('urn:agent-id-bridge:sidecar:unhealthy');
  });
});
