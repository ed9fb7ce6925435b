/**
 * The secretless sidecar (issue 10 item 2, "Must show") driven by Microsoft's own client: the
 * SidecarAuthProvider of @microsoft/agents-hosting, built from an EntraAuthSideCar connection by
 * the SDK's connection manager and called the way its hosting layer calls it (cloudAdapter.ts:
 * getAgenticInstanceToken for an agentic identity, getAgenticUserToken for an agentic user,
 * getAccessToken otherwise), against the sandbox bridge with the AWS and GCP proof sources. The
 * returned tokens' claims are checked, then the refusals: the blueprint token, an agent the policy
 * does not allow, another tenant, a bridge that is down (503, which Microsoft's client retries).
 * The caller check is in test/packages/sidecar-unit.test.ts (this suite may reach loopback only).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthType, MsalConnectionManager, type AuthProvider } from '@microsoft/agents-hosting';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';
import type { AuditEvent } from '../../src/audit/audit.ts';
import {
  loadSidecarConfig,
  startSidecar,
  type LogLine,
  type RunningSidecar,
} from '../../adapters/sidecar/src/index.ts';

const GRAPH_DEFAULT = `${SANDBOX.graph}/.default`;
const PROOFS = ['aws-sigv4', 'aws-web-identity', 'gcp'] as const;
type ProofName = (typeof PROOFS)[number];
const OTHER_TENANT = '0ddba11e-0000-4000-8000-000000000000';

let sb: Sandbox;
let work: string;
const audit: AuditEvent[] = [];
const logs: LogLine[] = [];
const sidecars = new Map<ProofName | 'file' | 'down', RunningSidecar>();
const issuedTokens: string[] = [];
const savedEnv = { ...process.env };

async function sidecar(env: Record<string, string>): Promise<RunningSidecar> {
  const config = loadSidecarConfig(
    { AGENT_ID_BRIDGE_URL: sb.url, AGENT_ID_BRIDGE_SCOPES_DEFAULT: GRAPH_DEFAULT, ...env },
    ['--listen', '127.0.0.1:0'],
    { readSystemFile: () => undefined },
  );
  return startSidecar(config, { log: (line) => logs.push(line) });
}

/**
 * Microsoft's client as an agent gets it: an EntraAuthSideCar connection in the SDK's connection
 * manager, chosen for an activity's service URL the way CloudAdapter chooses it.
 */
function microsoftProvider(sidecarUrl: string, retryCount = 0): AuthProvider {
  const connections = new MsalConnectionManager(
    new Map([
      [
        'serviceConnection',
        { authType: AuthType.EntraAuthSideCar, sidecarBaseUrl: sidecarUrl, scopes: [GRAPH_DEFAULT], retryCount },
      ],
    ]),
    [{ serviceUrl: '*', connection: 'serviceConnection' }],
  );
  return connections.getTokenProvider({ aud: SANDBOX.blueprintId }, 'https://smba.trafficmanager.net/teams/');
}

function claims(token: string) {
  issuedTokens.push(token);
  return decodeJwt(token);
}

async function signInHuman(): Promise<string> {
  const body = new URLSearchParams({
    grant_type: 'password',
    client_id: SANDBOX.clientAppId,
    username: SANDBOX.humanUser.upn,
    password: SANDBOX.humanUser.password,
    scope: `api://${SANDBOX.blueprintId}/access_agent`,
  });
  const res = await fetch(`${sb.entra.url}/${SANDBOX.tenantId}/oauth2/v2.0/token`, { method: 'POST', body });
  const json = (await res.json()) as { access_token?: string };
  if (!json.access_token) throw new Error(`sign-in failed: HTTP ${res.status}`);
  return json.access_token;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'agent-id-bridge-sidecar-'));
  sb = await startSandbox({ port: 0, audit: (e) => audit.push(e) });
  const m = sb.manifest as {
    aws: { accessKeyId: string; secretAccessKey: string; sessionToken?: string; region: string; stsEndpoint: string };
    gcp: { metadataHost: string; serviceAccount: { projectId: string } };
  };
  // The platforms' default chains read these, as on Lambda and Cloud Run: the sidecar is given no credential.
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: m.aws.accessKeyId,
    AWS_SECRET_ACCESS_KEY: m.aws.secretAccessKey,
    AWS_SESSION_TOKEN: m.aws.sessionToken ?? '',
    AWS_REGION: m.aws.region,
    AWS_ENDPOINT_URL_STS: m.aws.stsEndpoint,
    AWS_CONFIG_FILE: join(work, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(work, 'no-aws-credentials'),
    GCE_METADATA_HOST: m.gcp.metadataHost,
    GOOGLE_CLOUD_PROJECT: m.gcp.serviceAccount.projectId,
  });
  delete process.env.SIDECAR_URL;
  for (const proof of PROOFS) sidecars.set(proof, await sidecar({ AGENT_ID_BRIDGE_PROOF: proof }));
}, 60_000);

afterAll(async () => {
  await Promise.all([...sidecars.values()].map((s) => s.close()));
  await sb?.close();
  if (work) rmSync(work, { recursive: true, force: true });
  process.env = savedEnv;
});

describe.each(PROOFS)('sidecar with the %s proof, called by Microsoft’s SidecarAuthProvider', (proof) => {
  it(`issue 10 item 2: getAgenticInstanceToken gets the agent’s app token for the configured resource (${proof})`, async () => {
    const provider = microsoftProvider(sidecars.get(proof)!.url);
    expect(await (provider as unknown as { isHealthy(): Promise<boolean> }).isHealthy()).toBe(true);
    const token = await provider.getAgenticInstanceToken(SANDBOX.tenantId, SANDBOX.agentId);
    expect(claims(token)).toMatchObject({
      aud: SANDBOX.graph,
      appid: SANDBOX.agentId,
      idtyp: 'app',
      tid: SANDBOX.tenantId,
      xms_par_app_azp: SANDBOX.blueprintId,
    });
  });

  it(`issue 10 item 2: getAgenticUserToken with a UPN and with an object id gets the agent user’s token (${proof})`, async () => {
    const provider = microsoftProvider(sidecars.get(proof)!.url);
    for (const user of [SANDBOX.agentUser.upn, SANDBOX.agentUser.oid]) {
      const token = await provider.getAgenticUserToken(SANDBOX.tenantId, SANDBOX.agentId, user, [
        `${SANDBOX.graph}/User.Read`,
      ]);
      expect(claims(token)).toMatchObject({
        aud: SANDBOX.graph,
        appid: SANDBOX.agentId,
        idtyp: 'user',
        oid: SANDBOX.agentUser.oid,
        tid: SANDBOX.tenantId,
      });
    }
  });

  it(`issue 10 item 2: getAccessToken with a bare resource (as the hosting layer passes it) gets an app token for it (${proof})`, async () => {
    const provider = microsoftProvider(sidecars.get(proof)!.url);
    expect(claims(await provider.getAccessToken(SANDBOX.api))).toMatchObject({
      aud: SANDBOX.apiAppId,
      azp: SANDBOX.agentId,
      tid: SANDBOX.tenantId,
    });
  });
});

describe('sidecar: the authenticated form, caching, logs', () => {
  it('issue 10 item 2: GET /AuthorizationHeader/{serviceName} with the user’s token is OBO through the bridge', async () => {
    const userToken = await signInHuman();
    const res = await fetch(
      `${sidecars.get('gcp')!.url}/AuthorizationHeader/graph?AgentIdentity=${SANDBOX.agentId}&optionsOverride.Scopes=User.Read`,
      { headers: { authorization: `Bearer ${userToken}` } },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const { authorizationHeader } = (await res.json()) as { authorizationHeader: string };
    expect(authorizationHeader).toMatch(/^Bearer ey/);
    expect(claims(authorizationHeader.slice('Bearer '.length))).toMatchObject({
      aud: SANDBOX.graph,
      appid: SANDBOX.agentId,
      oid: SANDBOX.humanUser.oid,
      idtyp: 'user',
    });
    issuedTokens.push(userToken);
  });

  it('issue 10 item 2: the sidecar caches: a second client asking the same is answered without another exchange; ForceRefresh exchanges anew', async () => {
    const running = sidecars.get('aws-sigv4')!;
    const exchanges = () => running.handler.tokens.stats.misses;
    await microsoftProvider(running.url).getAgenticInstanceToken(SANDBOX.tenantId, SANDBOX.agentId);
    const before = exchanges();
    await microsoftProvider(running.url).getAgenticInstanceToken(SANDBOX.tenantId, SANDBOX.agentId);
    expect(exchanges()).toBe(before);
    const res = await fetch(
      `${running.url}/AuthorizationHeaderUnauthenticated/default?AgentIdentity=${SANDBOX.agentId}&optionsOverride.RequestAppToken=true&optionsOverride.AcquireTokenOptions.ForceRefresh=true`,
    );
    expect(res.status).toBe(200);
    expect(exchanges()).toBe(before + 1);
  });

  it('issue 10 item 2: a token file is re-read when it changes (file:<path>, a projected service account token)', async () => {
    const k8s = (sb.manifest as { kubernetes: { tokenRequestUrl: string; adminToken: string; audience: string } })
      .kubernetes;
    const mint = async (expirationSeconds: number) => {
      const res = await fetch(k8s.tokenRequestUrl, {
        method: 'POST',
        headers: { authorization: `Bearer ${k8s.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { audiences: [k8s.audience], expirationSeconds },
        }),
      });
      return ((await res.json()) as { status: { token: string } }).status.token;
    };
    const file = join(work, 'projected-token');
    writeFileSync(file, 'not-yet-a-token');
    const running = await sidecar({ AGENT_ID_BRIDGE_PROOF: `file:${file}` });
    sidecars.set('file', running);
    const ask = (refresh: boolean) =>
      fetch(
        `${running.url}/AuthorizationHeaderUnauthenticated/default?optionsOverride.RequestAppToken=true${refresh ? '&optionsOverride.AcquireTokenOptions.ForceRefresh=true' : ''}`,
      );
    const refused = await ask(false);
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { title: string }).title).toMatch(/^agent-id-bridge refused: The workload proof/);
    writeFileSync(file, await mint(3600));
    const res = await ask(true);
    expect(res.status).toBe(200);
    const { authorizationHeader } = (await res.json()) as { authorizationHeader: string };
    expect(claims(authorizationHeader.slice(7))).toMatchObject({ appid: SANDBOX.agentId, aud: SANDBOX.graph });
  });
});

describe('sidecar: refusals, as Microsoft’s client reports them', () => {
  it('issue 10 item 2: the blueprint token (getAgenticApplicationToken) is 403 with a title saying what to use instead', async () => {
    const provider = microsoftProvider(sidecars.get('aws-sigv4')!.url);
    await expect(provider.getAgenticApplicationToken(SANDBOX.tenantId, SANDBOX.agentId)).rejects.toThrow(
      /Sidecar returned error status 403: agent-id-bridge-sidecar never hands out the blueprint token .* Ask for the downstream API instead/,
    );
  });

  it('issue 10 item 2: an agent the policy does not allow is a 4xx with the bridge’s reason and request_id, not retried', async () => {
    const running = sidecars.get('gcp')!;
    const before = logs.length;
    const provider = microsoftProvider(running.url, 3);
    const error = await provider.getAgenticInstanceToken(SANDBOX.tenantId, SANDBOX.otherAgentId).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).toMatch(
      /Sidecar returned error status 400: agent-id-bridge refused: The requested agent identity is not allowed for this workload\. \(invalid_target, request_id [\w-]+\)/,
    );
    // One request reached the sidecar: a 4xx is not retried by Microsoft's client.
    const lines = logs.slice(before).filter((l) => l.route === 'AuthorizationHeaderUnauthenticated');
    expect(lines).toHaveLength(1);
    const requestId = /request_id ([\w-]+)/.exec(error!.message)![1];
    expect(audit.find((e) => e.request_id === requestId)).toMatchObject({ reason: 'agent_not_allowed' });
  });

  it('issue 10 item 2: a token of another tenant than optionsOverride.AcquireTokenOptions.Tenant asks for is refused', async () => {
    const provider = microsoftProvider(sidecars.get('aws-sigv4')!.url);
    await expect(provider.getAgenticInstanceToken(OTHER_TENANT, SANDBOX.agentId)).rejects.toThrow(
      /Sidecar returned error status 400: optionsOverride\.AcquireTokenOptions\.Tenant names another tenant/,
    );
  });

  it('issue 10 item 2: a bridge that is down is 503 with Retry-After, which Microsoft’s client retries', async () => {
    // A port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const down = await sidecar({ AGENT_ID_BRIDGE_URL: `http://127.0.0.1:${port}`, AGENT_ID_BRIDGE_PROOF: 'aws-sigv4' });
    sidecars.set('down', down);
    const res = await fetch(
      `${down.url}/AuthorizationHeaderUnauthenticated/default?AgentIdentity=${SANDBOX.agentId}&optionsOverride.RequestAppToken=true`,
    );
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(((await res.json()) as { title: string }).title).toMatch(
      /^agent-id-bridge at http:\/\/127\.0\.0\.1:\d+ cannot be reached/,
    );
    expect((await fetch(`${down.url}/healthz`)).status).toBe(503);

    const before = logs.length;
    const provider = microsoftProvider(down.url, 1);
    await expect(provider.getAgenticInstanceToken(SANDBOX.tenantId, SANDBOX.agentId)).rejects.toThrow(
      /Sidecar returned error status 503: agent-id-bridge at .* cannot be reached/,
    );
    expect(logs.slice(before).filter((l) => l.route === 'AuthorizationHeaderUnauthenticated')).toHaveLength(2);
  });

  it('issue 10 item 2: no log line holds a token, a user name or a query string', () => {
    expect(issuedTokens.length).toBeGreaterThan(5);
    const text = JSON.stringify(logs);
    for (const token of issuedTokens) expect(text).not.toContain(token.split('.')[2]);
    expect(text).not.toContain(SANDBOX.agentUser.upn);
    expect(text).not.toContain('optionsOverride');
    expect(logs.every((l) => typeof l.status === 'number' && typeof l.route === 'string')).toBe(true);
  });
});
