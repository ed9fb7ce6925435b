/**
 * OIDC workloads end to end with their real clients: a pod's service account
 * token minted by @kubernetes/client-node through the emulated API server's TokenRequest API, and a
 * GitHub Actions job's ID token from @actions/core's getIDToken against the emulated token service,
 * each exchanged at POST /token for an agent token that Entra (its emulator) issued. Everything the
 * clients need comes from GET /_sandbox, as a script would read it. Then the refusals a rule makes:
 * another repository or ref, another namespace; and the emulator's own refusal of a wrong admin token.
 */
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/audit.ts';
import { TOKEN_TYPE } from '../../src/constants.ts';
import type { OidcSandboxPlatform } from '../../sandbox/platforms/oidc.ts';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';
import { OTHER_NAMESPACE } from '../emulators/kubernetes/index.ts';
import { getIDTokenQuietly } from '../support/actions-core.ts';
import { postToken, type TokenResponse } from '../support/http.ts';

interface KubernetesManifest {
  apiServer: string;
  issuer: string;
  namespace: string;
  serviceAccount: string;
  audience: string;
  agentId: string;
  adminToken: string;
}
interface GithubActionsManifest {
  requestUrl: string;
  requestToken: string;
  issuer: string;
  repository: string;
  ref: string;
  audience: string;
  agentId: string;
}

const ENV_KEYS = ['ACTIONS_ID_TOKEN_REQUEST_URL', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN'] as const;
const savedEnv: Record<string, string | undefined> = {};
let sb: Sandbox;
let oidc: OidcSandboxPlatform;
let k8s: KubernetesManifest;
let gha: GithubActionsManifest;
const audit: AuditEvent[] = [];

function coreApi(token: string): CoreV1Api {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // client-node speaks plain http (the emulator on loopback) only with skipTLSVerify set.
    clusters: [{ name: 'sandbox', server: k8s.apiServer, skipTLSVerify: true }],
    users: [{ name: 'sandbox-admin', token }],
    contexts: [{ name: 'sandbox', cluster: 'sandbox', user: 'sandbox-admin' }],
    currentContext: 'sandbox',
  });
  return kc.makeApiClient(CoreV1Api);
}

/** What `kubectl create token <sa> -n <ns> --audience <aud>` does, through the client library. */
async function serviceAccountToken(p: { namespace?: string; adminToken?: string } = {}): Promise<string> {
  const tr = await coreApi(p.adminToken ?? k8s.adminToken).createNamespacedServiceAccountToken({
    name: k8s.serviceAccount,
    namespace: p.namespace ?? k8s.namespace,
    body: {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { audiences: [k8s.audience], expirationSeconds: 3600 },
    },
  });
  return tr.status!.token!;
}

/** A workflow step: the runner's two variables, then core.getIDToken(audience). */
async function actionsIdToken(job: { requestUrl: string; requestToken: string }): Promise<string> {
  process.env.ACTIONS_ID_TOKEN_REQUEST_URL = job.requestUrl;
  process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = job.requestToken;
  return getIDTokenQuietly(gha.audience);
}

async function verifiedByEntra(token: string): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, createLocalJWKSet(sb.entra.jwks() as never), { algorithms: ['RS256'] });
  return payload;
}

function expectNoRuleMatches(res: TokenResponse): void {
  expect(res.status).toBe(400);
  expect(res.body.error).toBe('invalid_request');
  expect(res.body).not.toHaveProperty('access_token');
  expect(audit.at(-1)).toMatchObject({ outcome: 'denied', reason: 'no_rule_matches', platform: 'oidc' });
  expect(sb.entra.calls).toHaveLength(0);
}

beforeAll(async () => {
  for (const k of ENV_KEYS) savedEnv[k] = process.env[k];
  sb = await startSandbox({ port: 0, audit: (e) => audit.push(e) });
  oidc = sb.platforms.find((p) => p.name === 'oidc') as OidcSandboxPlatform;
  const manifest = (await (await fetch(`${sb.url}/_sandbox`)).json()) as {
    kubernetes: KubernetesManifest;
    githubActions: GithubActionsManifest;
  };
  k8s = manifest.kubernetes;
  gha = manifest.githubActions;
});
beforeEach(() => {
  sb.entra.resetCalls();
  audit.length = 0;
});
afterEach(() => {
  for (const k of ENV_KEYS)
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
});
afterAll(async () => {
  await sb?.close();
});

describe('OIDC workloads with their real clients (issue 11)', () => {
  it('issue 11 item 3: /_sandbox names the Kubernetes API server and the GitHub Actions token service', () => {
    expect(k8s).toEqual(
      expect.objectContaining({
        apiServer: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
        namespace: 'agents',
        serviceAccount: 'agent-runner',
        audience: sb.url,
        agentId: SANDBOX.agentId,
        adminToken: expect.any(String),
      }),
    );
    expect(gha).toEqual(
      expect.objectContaining({
        requestUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/.+\/idtoken\?api-version=2\.0$/),
        requestToken: expect.any(String),
        repository: 'agent-org/agent-repo',
        audience: sb.url,
        agentId: SANDBOX.agentId,
      }),
    );
    expect(sb.banner.join('\n')).toContain(k8s.apiServer);
    expect(sb.banner.join('\n')).toContain(gha.requestUrl);
  });

  it('issue 11 Must show: @kubernetes/client-node TokenRequest → POST /token → an agent token for Graph', async () => {
    const token = await serviceAccountToken();
    const res = await postToken(sb.url, {
      subject_token: token,
      subject_token_type: TOKEN_TYPE.jwt,
      resource: SANDBOX.graph,
    });
    expect(res.status).toBe(200);
    expect(await verifiedByEntra(String(res.body.access_token))).toMatchObject({
      appid: SANDBOX.agentId,
      aud: SANDBOX.graph,
    });
    expect(audit.at(-1)).toMatchObject({
      outcome: 'issued',
      platform: 'oidc',
      issuer: k8s.issuer,
      principal: `system:serviceaccount:${k8s.namespace}:${k8s.serviceAccount}`,
      rule: 'sandbox-kubernetes-service-account',
      attributes: expect.objectContaining({ namespace: k8s.namespace, service_account_name: k8s.serviceAccount }),
    });
  });

  it('issue 11 Must show: @actions/core getIDToken(audience) → POST /token → an agent token for the sandbox API', async () => {
    const token = await actionsIdToken(gha);
    const res = await postToken(sb.url, {
      subject_token: token,
      subject_token_type: TOKEN_TYPE.idToken,
      scope: `${SANDBOX.api}/.default`,
    });
    expect(res.status).toBe(200);
    expect(await verifiedByEntra(String(res.body.access_token))).toMatchObject({
      azp: SANDBOX.agentId,
      roles: ['Orders.Read'],
    });
    expect(audit.at(-1)).toMatchObject({
      outcome: 'issued',
      platform: 'oidc',
      issuer: gha.issuer,
      principal: `repo:${gha.repository}:ref:${gha.ref}`,
      rule: 'sandbox-github-actions-main',
      attributes: expect.objectContaining({ repository: gha.repository, ref: gha.ref }),
    });
  });

  it('issue 11 Must show: a GitHub token from another repository is refused (no_rule_matches), nothing issued', async () => {
    const job = oidc.github.createJob({ repository: 'agent-org/another-repo' });
    expectNoRuleMatches(
      await postToken(sb.url, {
        subject_token: await actionsIdToken(job),
        subject_token_type: TOKEN_TYPE.idToken,
        resource: SANDBOX.graph,
      }),
    );
    expect(audit.at(-1)!.attributes).toMatchObject({ repository: 'agent-org/another-repo' });
  });

  it('issue 11 Must show: a GitHub token of the allowed repository but another ref is refused (no_rule_matches)', async () => {
    // The principal glob repo:<repository>:** matches this token; the rule's `ref` attribute does not.
    const job = oidc.github.createJob({ ref: 'refs/heads/feature/untrusted' });
    expectNoRuleMatches(
      await postToken(sb.url, {
        subject_token: await actionsIdToken(job),
        subject_token_type: TOKEN_TYPE.idToken,
        resource: SANDBOX.graph,
      }),
    );
    expect(audit.at(-1)).toMatchObject({
      principal: `repo:${gha.repository}:ref:refs/heads/feature/untrusted`,
      attributes: expect.objectContaining({ ref: 'refs/heads/feature/untrusted' }),
    });
  });

  it('issue 11 Must show: a Kubernetes token for the same service account name in another namespace is refused (no_rule_matches)', async () => {
    const token = await serviceAccountToken({ namespace: OTHER_NAMESPACE });
    expectNoRuleMatches(
      await postToken(sb.url, { subject_token: token, subject_token_type: TOKEN_TYPE.jwt, resource: SANDBOX.graph }),
    );
    expect(audit.at(-1)).toMatchObject({ principal: `system:serviceaccount:${OTHER_NAMESPACE}:${k8s.serviceAccount}` });
  });

  it('issue 11 item 3: the emulated API server refuses TokenRequest with a wrong admin token (Status 401), so no token exists to exchange', async () => {
    const err = await serviceAccountToken({ adminToken: `${k8s.adminToken}x` }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiException);
    expect((err as ApiException<unknown>).code).toBe(401);
    expect(audit).toHaveLength(0);
  });
});
