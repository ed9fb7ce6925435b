/**
 * The "Entra Agent Token" community node's execute(), run in a realistic n8n execution context
 * (n8n-context.ts) against the sandbox bridge over real HTTP.
 */
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/audit/audit.ts';
import { startSandbox, type Sandbox } from '../../../sandbox/sandbox.ts';
import { SANDBOX } from '../../../sandbox/tenant.ts';
import {
  executionOf,
  loadNodePackage,
  NodeApiError,
  NodeConnectionTypes,
  NodeOperationError,
  type ContextOptions,
  type HttpCall,
  type ICredentialType,
  type INodeParameters,
  type INodeType,
  type NodePackage,
} from './n8n-context.ts';

let sb: Sandbox;
let pkg: NodePackage;
let nodeType: INodeType;
let credentialType: ICredentialType;
let m: { instanceId: string; workflowId: string; privateJwk: Record<string, string>; agentId: string; kid: string };
const audit: AuditEvent[] = [];

beforeAll(async () => {
  [sb, pkg] = await Promise.all([startSandbox({ port: 0, audit: (e) => audit.push(e) }), loadNodePackage()]);
  nodeType = new pkg.EntraAgentToken();
  credentialType = new pkg.EntraAgentTokenApi();
  m = sb.manifest.n8n as typeof m;
});
afterAll(() => sb?.close());
beforeEach(() => pkg.clearTokenCache());

function credentials(over: Record<string, string> = {}) {
  return { bridgeUrl: sb.url, instanceId: m.instanceId, privateKey: JSON.stringify(m.privateJwk), ...over };
}

function execution(parameters: INodeParameters, over: Partial<ContextOptions> = {}) {
  return executionOf({
    nodeType,
    credentialType,
    parameters,
    credentials: credentials(),
    workflow: { id: m.workflowId, name: 'Nightly report', active: true },
    ...over,
  });
}

async function refusal(
  parameters: INodeParameters,
  over: Partial<ContextOptions> = {},
): Promise<Error & { description?: string; httpCode?: string | null }> {
  try {
    await execution(parameters, over).run();
  } catch (e) {
    return e as Error & { description?: string };
  }
  throw new Error('expected the node to throw');
}

/** What an n8n user can see of an error (message, description, serialised context) never holds a secret. */
function expectNoSecrets(error: unknown, secrets: string[]): void {
  const seen = JSON.stringify({
    error,
    message: (error as Error).message,
    description: (error as { description?: string }).description,
    context: (error as { context?: unknown }).context,
  });
  for (const s of secrets) expect(seen).not.toContain(s);
}

describe('node and credential descriptions', () => {
  it('the credential holds bridge URL, instance id and private key, and only this node may read it', () => {
    expect(credentialType.name).toBe('entraAgentTokenApi');
    expect(credentialType.properties.map((p) => p.name)).toEqual([
      'bridgeUrl',
      'instanceId',
      'privateKey',
      'projectId',
    ]);
    expect(credentialType.properties.find((p) => p.name === 'privateKey')?.typeOptions?.password).toBe(true);
    expect(credentialType.restrictToSupportedNodes).toBe(true);
    expect(credentialType.supportedNodes).toEqual([nodeType.description.name]);
  });

  it('the node: main in/out, the credential, modes, resource, optional agent; not offered as an AI tool', () => {
    const d = nodeType.description;
    expect(d).toMatchObject({
      displayName: 'Entra Agent Token',
      name: 'entraAgentToken',
      inputs: [NodeConnectionTypes.Main],
      outputs: [NodeConnectionTypes.Main],
    });
    expect(d.credentials).toEqual([{ name: 'entraAgentTokenApi', required: true, testedBy: 'entraAgentTokenApiTest' }]);
    expect(d.usableAsTool).toBeUndefined();
    const mode = d.properties.find((p) => p.name === 'mode');
    expect(mode?.options?.map((o) => ('value' in o ? o.value : undefined))).toEqual([
      'autonomous',
      'agentUser',
      'onBehalfOf',
    ]);
    expect(d.properties.find((p) => p.name === 'userToken')?.typeOptions?.password).toBe(true);
    expect(d.properties.find((p) => p.name === 'agentId')?.required).toBeUndefined();
  });

  it('n8n refuses the credential to any other node type (restrictToSupportedNodes), e.g. the HTTP Request node', async () => {
    const asHttpRequest = Object.assign(
      Object.create(Object.getPrototypeOf(nodeType) as object) as INodeType,
      nodeType,
      { description: { ...nodeType.description, name: 'httpRequest' } },
    );
    const error = await refusal(
      { mode: 'autonomous' },
      { nodeType: asHttpRequest, nodeTypeName: 'n8n-nodes-base.httpRequest' },
    );
    expect(error.message).toMatch(/cannot be used by node type "n8n-nodes-base.httpRequest"/);
  });
});

describe('execute() against the sandbox bridge', () => {
  it("autonomous: outputs access token, expiry and agent id; the token is the agent's, for Graph", async () => {
    const http: HttpCall[] = [];
    const before = Date.now() / 1000;
    const [[item]] = (await execution({ mode: 'autonomous' }, { http }).run()) as [
      [{ json: Record<string, unknown>; pairedItem: unknown }],
    ];
    expect(item.json).toMatchObject({
      tokenType: 'Bearer',
      agentId: SANDBOX.agentId,
      mode: 'autonomous',
      resource: SANDBOX.graph,
      scope: `${SANDBOX.graph}/.default`,
      fromCache: false,
    });
    expect(item.pairedItem).toEqual({ item: 0 });
    // Graph app-only agent tokens live about an hour.
    expect(item.json.expiresIn).toBeGreaterThan(3000);
    expect(Date.parse(String(item.json.expiresAt)) / 1000).toBeGreaterThan(before + 3000);
    expect(decodeJwt(String(item.json.accessToken))).toMatchObject({
      aud: SANDBOX.graph,
      appid: SANDBOX.agentId,
      idtyp: 'app',
      tid: SANDBOX.tenantId,
    });

    // One POST /token, a form with the assertion as subject token, to <bridge>/token without redirects.
    expect(http).toHaveLength(1);
    expect(http[0]!.options).toMatchObject({
      method: 'POST',
      url: `${sb.url}/token`,
      disableFollowRedirect: true,
      returnFullResponse: true,
      ignoreHttpStatusErrors: true,
    });
    const form = new URLSearchParams(String(http[0]!.options.body));
    expect(form.get('subject_token_type')).toBe('urn:ietf:params:oauth:token-type:jwt');
    expect(form.get('resource')).toBe(SANDBOX.graph);
    expect(form.has('audience')).toBe(false);
  });

  it('the assertion follows the documented format, signed by the credential key', async () => {
    const http: HttpCall[] = [];
    const now = Math.floor(Date.now() / 1000);
    await execution({ mode: 'autonomous' }, { http, executionId: '7781' }).run();
    const assertion = new URLSearchParams(String(http[0]!.options.body)).get('subject_token')!;
    expect(decodeProtectedHeader(assertion)).toEqual({ alg: 'ES256', kid: m.kid, typ: 'JWT' });
    const claims = decodeJwt(assertion);
    expect(claims).toMatchObject({
      iss: `n8n:${m.instanceId}`,
      sub: `n8n:${m.instanceId}:workflow:${m.workflowId}`,
      aud: `${sb.url}/token`,
      n8n: { execution_id: '7781', workflow_name: 'Nightly report', node_name: 'Entra Agent Token' },
    });
    expect(claims.iat).toBeGreaterThanOrEqual(now - 1);
    expect(claims.exp! - claims.iat!).toBeLessThanOrEqual(300);
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
    const event = audit.findLast((e) => e.platform === 'n8n' && e.outcome === 'issued');
    expect(event).toMatchObject({
      principal: `n8n:${m.instanceId}:workflow:${m.workflowId}`,
      context: { n8n_execution_id: '7781' },
    });
  });

  it('caches in memory until shortly before expiry: the second run makes no exchange', async () => {
    const http: HttpCall[] = [];
    const [[first]] = (await execution({ mode: 'autonomous' }, { http }).run()) as [
      [{ json: Record<string, unknown> }],
    ];
    const [[second]] = (await execution({ mode: 'autonomous' }, { http }).run()) as [
      [{ json: Record<string, unknown> }],
    ];
    expect(http).toHaveLength(1);
    expect(second.json.accessToken).toBe(first.json.accessToken);
    expect(second.json.fromCache).toBe(true);
    // Another workflow is another principal: never served from this workflow's cache entry.
    const other = await refusal(
      { mode: 'autonomous' },
      { workflow: { id: 'NotInPolicy00001', name: 'Nightly report', active: true } },
    );
    expect(other.message).toMatch(/No bridge policy rule allows workflow NotInPolicy00001/);
  });

  it('Cache Tokens off: every run asks the bridge', async () => {
    const http: HttpCall[] = [];
    await execution({ mode: 'autonomous', options: { cacheTokens: false } }, { http }).run();
    await execution({ mode: 'autonomous', options: { cacheTokens: false } }, { http }).run();
    expect(http).toHaveLength(2);
  });

  it('one output item per input item, each paired', async () => {
    const out = await execution(
      { mode: 'autonomous', resource: SANDBOX.api },
      { items: [{ json: { a: 1 } }, { json: { a: 2 } }] },
    ).run();
    expect(out[0]!.map((i) => i.pairedItem)).toEqual([{ item: 0 }, { item: 1 }]);
    expect(decodeJwt(String(out[0]![1]!.json.accessToken))).toMatchObject({
      azp: SANDBOX.agentId,
      roles: ['Orders.Read'],
    });
  });

  it("agent user: the agent user's token", async () => {
    const [[item]] = (await execution({
      mode: 'agentUser',
      agentUser: SANDBOX.agentUser.upn,
      agentId: SANDBOX.agentId,
    }).run()) as [[{ json: Record<string, unknown> }]];
    expect(item.json.agentId).toBe(SANDBOX.agentId);
    expect(decodeJwt(String(item.json.accessToken))).toMatchObject({
      idtyp: 'user',
      upn: SANDBOX.agentUser.upn,
      appid: SANDBOX.agentId,
    });
  });

  it("on behalf of: the user token comes from the input item through an expression; the token is the user's", async () => {
    const human = (
      sb.manifest.entra as { humanUser: { username: string; password: string; clientId: string; scope: string } }
    ).humanUser;
    const userToken = await sb.entra.signInUser(SANDBOX.tenantId, human);
    const http: HttpCall[] = [];
    const [[item]] = (await execution(
      { mode: 'onBehalfOf', userToken: '={{ $json.userToken }}', options: { scope: `${SANDBOX.graph}/User.Read` } },
      { http, items: [{ json: { userToken } }] },
    ).run()) as [[{ json: Record<string, unknown> }]];
    expect(decodeJwt(String(item.json.accessToken))).toMatchObject({
      idtyp: 'user',
      oid: SANDBOX.humanUser.oid,
      appid: SANDBOX.agentId,
    });
    const form = new URLSearchParams(String(http[0]!.options.body));
    expect(form.get('subject_token')).toBe(userToken);
    expect(form.get('subject_token_type')).toBe('urn:ietf:params:oauth:token-type:access_token');
    expect(form.get('actor_token_type')).toBe('urn:ietf:params:oauth:token-type:jwt');
    expect(JSON.stringify(item.json)).not.toContain(userToken);
  });

  it('accepts an Ed25519 key in PEM form too (as printed by npm run n8n:keygen -- --alg EdDSA)', async () => {
    const { generateInstanceKey } = await import('../../../adapters/n8n/keygen.ts');
    const k = await generateInstanceKey('keygen-instance', 'EdDSA');
    const local = await startSandbox({
      port: 0,
      audit: () => {},
      policy: (p) => {
        (p.platforms.n8n as { instances: Record<string, unknown> }).instances['keygen-instance'] = {
          keys: [k.publicJwk],
        };
        p.rules.push({
          name: 'keygen',
          platform: 'n8n',
          principal: `n8n:keygen-instance:workflow:${m.workflowId}`,
          agent: SANDBOX.agentId,
          resources: [SANDBOX.graph],
        });
        return p;
      },
    });
    try {
      const [[item]] = (await execution(
        { mode: 'autonomous' },
        { credentials: { bridgeUrl: `${local.url}/`, instanceId: 'keygen-instance', privateKey: k.privateKeyPem } },
      ).run()) as [[{ json: Record<string, unknown> }]];
      expect(item.json.agentId).toBe(SANDBOX.agentId);
    } finally {
      await local.close();
    }
  });
});

describe('execute(): bridge refusals become n8n errors that say what to fix', () => {
  it('unregistered instance: NodeApiError naming the instance, the kid and the audience', async () => {
    const e = await refusal({ mode: 'autonomous' }, { credentials: credentials({ instanceId: 'ghost-instance' }) });
    expect(e).toBeInstanceOf(NodeApiError);
    expect(e.message).toBe("agent-id-bridge did not accept this n8n instance's proof");
    expect(e.description).toContain(
      'instance "ghost-instance" is registered in the bridge policy (platforms.n8n.instances)',
    );
    expect(e.description).toContain(m.kid);
    expect(e.description).toContain(`${sb.url}/token`);
    expect(e.description).toMatch(/request id [0-9a-f-]{36}/);
    expect(e.httpCode).toBe('400');
    expectNoSecrets(e, [m.privateJwk.d!]);
  });

  it('wrong key for a registered instance: same message, the kid tells the operator which key was used', async () => {
    const { generateInstanceKey } = await import('../../../adapters/n8n/keygen.ts');
    const stranger = await generateInstanceKey(m.instanceId);
    const e = await refusal(
      { mode: 'autonomous' },
      { credentials: credentials({ privateKey: stranger.privateKeyPem }) },
    );
    expect(e.message).toBe("agent-id-bridge did not accept this n8n instance's proof");
    expect(e.description).toContain(stranger.kid);
    expectNoSecrets(e, [stranger.privateKeyPem.split('\n')[1]!]);
  });

  it('a workflow without a rule: names the principal the rule must match', async () => {
    const e = await refusal(
      { mode: 'autonomous' },
      { workflow: { id: 'NotInPolicy00002', name: 'Nightly report', active: true } },
    );
    expect(e.message).toBe(`No bridge policy rule allows workflow NotInPolicy00002 of instance ${m.instanceId}`);
    expect(e.description).toContain(`principal "n8n:${m.instanceId}:workflow:NotInPolicy00002"`);
  });

  it('an agent or resource the rule does not allow: invalid_target explained', async () => {
    const agent = await refusal({ mode: 'autonomous', agentId: SANDBOX.otherAgentId });
    expect(agent.message).toMatch(
      /^agent-id-bridge refused the requested target: The requested agent identity is not allowed/,
    );
    const resource = await refusal({ mode: 'autonomous', resource: 'https://management.azure.com' });
    expect(resource.message).toMatch(/The requested resource is not allowed/);
  });

  it('a bad user token in on-behalf-of mode: Entra rejected it; the token is not echoed', async () => {
    const bogus = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLW5vdC12YWxpZA';
    const e = await refusal({ mode: 'onBehalfOf', userToken: bogus });
    expect(e.message).toMatch(/^Microsoft Entra rejected the user token$/);
    expectNoSecrets(e, [bogus, 'c2lnbmF0dXJlLW5vdC12YWxpZA']);
  });

  it('bridge unreachable: says which URL, carries neither the assertion nor the key', async () => {
    const e = await refusal({ mode: 'autonomous' }, { credentials: credentials({ bridgeUrl: 'http://127.0.0.1:9' }) });
    expect(e).toBeInstanceOf(NodeApiError);
    expect(e.message).toBe('Cannot reach agent-id-bridge at http://127.0.0.1:9');
    expectNoSecrets(e, [m.privateJwk.d!, 'eyJhbGciOiJFUzI1NiI']);
  });

  it('bridge URL pointing elsewhere (404): says to use the issuer URL', async () => {
    const e = await refusal({ mode: 'autonomous' }, { credentials: credentials({ bridgeUrl: `${sb.url}/v1` }) });
    expect(e.message).toBe(`No agent-id-bridge token endpoint at ${sb.url}/v1/token`);
  });

  it('credential problems are NodeOperationErrors before any request', async () => {
    const http: HttpCall[] = [];
    const badKey = await refusal(
      { mode: 'autonomous' },
      {
        http,
        credentials: credentials({ privateKey: '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----' }),
      },
    );
    expect(badKey).toBeInstanceOf(NodeOperationError);
    expect(badKey.message).toBe(
      "The credential's Private Key is unusable: it looks like a PEM but could not be read as a private key (damaged or cut off?)",
    );
    const { generateKeyPairSync } = await import('node:crypto');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString();
    expect(
      (await refusal({ mode: 'autonomous' }, { http, credentials: credentials({ privateKey: rsa }) })).message,
    ).toMatch(
      /^The credential's Private Key is unusable: it is an RSA key; the bridge accepts EC P-256 \(ES256\) or Ed25519/,
    );
    expect(
      (await refusal({ mode: 'autonomous' }, { http, credentials: credentials({ instanceId: 'has:colon' }) })).message,
    ).toMatch(/^The credential's Instance ID is unusable: it must be 1-128 letters/);
    expect(
      (await refusal({ mode: 'autonomous' }, { http, credentials: credentials({ bridgeUrl: 'bridge.example.com' }) }))
        .message,
    ).toBe(
      "The credential's Bridge URL is unusable: it is not a URL; enter the bridge issuer URL, e.g. https://bridge.example.com",
    );
    expect(http).toHaveLength(0);
  });

  it('an unsaved workflow (no id) cannot be named by a rule: says to save it', async () => {
    const e = await refusal({ mode: 'autonomous' }, { workflow: { name: 'My workflow', active: false } });
    expect(e.message).toBe('This workflow has no ID yet');
  });

  it('missing mode inputs are caught before any request', async () => {
    expect((await refusal({ mode: 'agentUser', agentUser: ' ' })).message).toBe('Agent User is empty');
    expect((await refusal({ mode: 'onBehalfOf', userToken: '={{ $json.missing }}' })).message).toBe(
      'User Access Token is empty',
    );
  });

  it('Continue On Fail: the error becomes the item, the other items still get tokens', async () => {
    const out = await execution(
      { mode: 'onBehalfOf', userToken: '={{ $json.userToken }}' },
      {
        continueOnFail: true,
        items: [{ json: { userToken: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.bm90LWEtdG9rZW4' } }, { json: {} }],
      },
    ).run();
    expect(out[0]).toHaveLength(2);
    expect(out[0]![0]!.json.error).toMatch(/^Microsoft Entra rejected the user token$/);
    expect(out[0]![1]!.json.error).toBe('User Access Token is empty');
    expect(JSON.stringify(out)).not.toContain('bm90LWEtdG9rZW4');
  });
});
