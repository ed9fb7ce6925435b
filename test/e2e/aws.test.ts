/**
 * AWS end to end over real HTTP: a workload with the sandbox role's
 * credentials, found by the AWS SDK's default provider chain, proves itself with either proof kind
 * — a GetCallerIdentity signed with the SDK's SigV4 signer, or a GetWebIdentityToken JWT the SDK
 * fetches from the STS emulator — and the bridge turns it into an Entra agent token from the Entra
 * emulator. Last, the documented Bedrock action-group Lambda calls a stand-in Graph with it.
 */
import type { AddressInfo } from 'node:net';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAwsAgentTokenSource } from '../../adapters/aws/client/src/index.ts';
import { createActionGroupHandler } from '../../adapters/aws/examples/bedrock-action-group.ts';
import type { AwsSandboxPlatform } from '../../sandbox/platforms/aws.ts';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';

interface AwsManifest {
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  stsHost: string;
  stsEndpoint: string;
  roleArn: string;
  webIdentityIssuer: string;
  agentId: string;
}

/** What the SDK's default chain reads; set from the manifest, restored afterwards. */
const ENV_KEYS = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_PROFILE',
  'AWS_ENDPOINT_URL',
  'AWS_ENDPOINT_URL_STS',
] as const;
const saved = new Map<string, string | undefined>();

let sb: Sandbox;
let aws: AwsSandboxPlatform;
let m: AwsManifest;
let audience: string;

beforeAll(async () => {
  sb = await startSandbox({ port: 0, audit: () => {} });
  aws = sb.platforms.find((p) => p.name === 'aws') as AwsSandboxPlatform;
  const manifest = (await (await fetch(`${sb.url}/_sandbox`)).json()) as { aws: AwsManifest; audience: string };
  m = manifest.aws;
  audience = manifest.audience;
  for (const k of ENV_KEYS) saved.set(k, process.env[k]);
  for (const k of ENV_KEYS) delete process.env[k];
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: m.accessKeyId,
    AWS_SECRET_ACCESS_KEY: m.secretAccessKey,
    AWS_SESSION_TOKEN: m.sessionToken,
    AWS_REGION: m.region,
  });
});

afterAll(async () => {
  for (const [k, v] of saved) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await sb?.close();
});

/** An STS client as a workload builds it: region and credentials from the default chains; only the endpoint points at the emulator. */
const stsClient = () => new STSClient({ endpoint: m.stsEndpoint });

describe('AWS workload → agent identity token (end to end)', () => {
  it('the /_sandbox aws section names exactly what a workload needs', () => {
    expect(Object.keys(m).sort()).toEqual(
      [
        'accessKeyId',
        'agentId',
        'region',
        'roleArn',
        'secretAccessKey',
        'sessionToken',
        'stsEndpoint',
        'stsHost',
        'webIdentityIssuer',
      ].sort(),
    );
    expect(m).toMatchObject({
      region: 'us-east-1',
      stsHost: 'sts.us-east-1.amazonaws.com',
      stsEndpoint: aws.emulator.url,
      roleArn: 'arn:aws:iam::111122223333:role/agent-id-bridge-sandbox-agent',
      agentId: SANDBOX.agentId,
    });
    expect(m.webIdentityIssuer.startsWith(`${m.stsEndpoint}/issuers/`)).toBe(true);
  });

  it('the real AWS SDK, with the manifest credentials from its default chain, talks to the STS emulator', async () => {
    const me = await stsClient().send(new GetCallerIdentityCommand({}));
    expect(me).toMatchObject({
      Account: '111122223333',
      Arn: 'arn:aws:sts::111122223333:assumed-role/agent-id-bridge-sandbox-agent/bedrock-action-group',
    });
  });

  it('kind 1: a GetCallerIdentity signed by the SDK signer → POST /token → an app-only agent token for Graph', async () => {
    aws.emulator.resetCalls();
    const source = createAwsAgentTokenSource({
      bridgeUrl: sb.url,
      audience,
      resource: SANDBOX.graph,
      sts: stsClient(),
    });
    const t = await source.getToken();
    expect(t.agentId).toBe(m.agentId);
    const claims = decodeJwt(t.accessToken);
    expect(claims).toMatchObject({
      aud: SANDBOX.graph,
      appid: m.agentId,
      oid: m.agentId,
      idtyp: 'app',
      tid: SANDBOX.tenantId,
      xms_par_app_azp: SANDBOX.blueprintId,
    });
    // The workload itself never called STS; the bridge forwarded the signed request for the host it was signed for.
    expect(aws.emulator.calls).toEqual([{ action: 'GetCallerIdentity', host: m.stsHost, status: 200 }]);
    // Cached by the helper until shortly before expiry: no second proof, no second exchange.
    expect(await source.getToken()).toEqual(t);
    expect(aws.emulator.count()).toBe(1);
  });

  it('kind 2: GetWebIdentityToken (ES384) from the STS emulator → POST /token → an agent token for a v2 API', async () => {
    aws.emulator.resetCalls();
    const source = createAwsAgentTokenSource({
      bridgeUrl: sb.url,
      audience,
      scope: `${SANDBOX.api}/.default`,
      proof: 'web-identity-token',
      signingAlgorithm: 'ES384',
      sts: stsClient(),
    });
    const t = await source.getToken();
    expect(t.agentId).toBe(m.agentId);
    expect(decodeJwt(t.accessToken)).toMatchObject({
      azp: m.agentId,
      idtyp: 'app',
      tid: SANDBOX.tenantId,
      roles: ['Orders.Read'],
    });
    // One SDK call to the emulator's own (regional) endpoint; the bridge verified the JWT offline.
    expect(aws.emulator.calls).toEqual([
      { action: 'GetWebIdentityToken', host: new URL(m.stsEndpoint).host, status: 200 },
    ]);
    expect(aws.emulator.issuer('111122223333').jwksHits).toBe(1);
  });

  it('kind 1 signed for the global endpoint works too, since the sandbox allows it', async () => {
    const source = createAwsAgentTokenSource({
      bridgeUrl: sb.url,
      audience,
      resource: SANDBOX.graph,
      sts: stsClient(),
      stsHost: 'sts.amazonaws.com',
    });
    expect(decodeJwt((await source.getToken()).accessToken)).toMatchObject({ appid: m.agentId });
  });

  it('a workload that binds its proof to another audience gets the bridge refusal, and STS is not asked', async () => {
    aws.emulator.resetCalls();
    const source = createAwsAgentTokenSource({
      bridgeUrl: sb.url,
      audience: 'https://other-bridge.example',
      resource: SANDBOX.graph,
      sts: stsClient(),
    });
    await expect(source.getToken()).rejects.toMatchObject({
      name: 'BridgeExchangeError',
      status: 400,
      error: 'invalid_request',
    });
    expect(aws.emulator.count()).toBe(0);
  });

  it('the Bedrock action-group example answers with a Graph lookup made with the agent token', async () => {
    const seen: string[] = [];
    const graph = new Hono();
    graph.get('/v1.0/users/:upn', (c) => {
      const claims = decodeJwt((c.req.header('authorization') ?? '').replace(/^Bearer /, ''));
      seen.push(`${String(claims.appid)} ${String(claims.aud)} ${c.req.param('upn')}`);
      if (c.req.param('upn') !== 'alice@sandbox.example')
        return c.json({ error: { code: 'Request_ResourceNotFound' } }, 404);
      return c.json({
        displayName: 'Alice',
        jobTitle: 'Engineer',
        department: 'Agents',
        mail: 'alice@sandbox.example',
        id: 'x',
      });
    });
    const server = serve({ fetch: graph.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((r) => server.once('listening', r));
    try {
      const handle = createActionGroupHandler({
        agentTokens: { bridgeUrl: sb.url, audience, sts: stsClient() },
        graphBaseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      });
      const event = {
        messageVersion: '1.0',
        actionGroup: 'directory',
        function: 'getUserProfile',
        parameters: [{ name: 'userPrincipalName', type: 'string', value: 'alice@sandbox.example' }],
        sessionAttributes: { s: '1' },
      };
      expect(await handle(event)).toEqual({
        messageVersion: '1.0',
        response: {
          actionGroup: 'directory',
          function: 'getUserProfile',
          functionResponse: {
            responseBody: {
              TEXT: {
                body: '{"displayName":"Alice","jobTitle":"Engineer","department":"Agents","mail":"alice@sandbox.example"}',
              },
            },
          },
        },
        sessionAttributes: { s: '1' },
      });
      expect((await handle({ ...event, parameters: [] })).response.functionResponse.responseState).toBe('REPROMPT');
      expect(
        (
          await handle({
            ...event,
            parameters: [{ name: 'userPrincipalName', type: 'string', value: 'bob@sandbox.example' }],
          })
        ).response.functionResponse.responseBody.TEXT.body,
      ).toBe('There is no user bob@sandbox.example.');
      expect(seen).toEqual([
        `${m.agentId} ${SANDBOX.graph} alice@sandbox.example`,
        `${m.agentId} ${SANDBOX.graph} bob@sandbox.example`,
      ]);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('issue 10 item 4: the Bedrock example answers a failure response, not a thrown error, when the downstream call fails', async () => {
    const event = {
      messageVersion: '1.0',
      actionGroup: 'directory',
      function: 'getUserProfile',
      parameters: [{ name: 'userPrincipalName', type: 'string', value: 'alice@sandbox.example' }],
    };
    const failures = [
      async (): Promise<Response> => {
        throw new TypeError('fetch failed');
      },
      async () => new Response('<html>gateway</html>', { status: 200, headers: { 'content-type': 'text/html' } }),
    ];
    for (const fetchGraph of failures) {
      const handle = createActionGroupHandler({
        agentTokens: { bridgeUrl: sb.url, audience, sts: stsClient() },
        graphBaseUrl: 'http://127.0.0.1:9',
        fetch: fetchGraph,
      });
      const result = await handle(event);
      expect(result.response.functionResponse).toEqual({
        responseState: 'FAILURE',
        responseBody: { TEXT: { body: 'The directory did not answer.' } },
      });
    }
  });
});
