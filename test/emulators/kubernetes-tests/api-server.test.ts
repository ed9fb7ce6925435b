/**
 * The Kubernetes API server emulator against @kubernetes/client-node, the client a workload or an
 * operator script uses: TokenRequest through CoreV1Api.createNamespacedServiceAccountToken, and the
 * discovery documents a verifier reads. Checks cite the Kubernetes API reference
 * (https://kubernetes.io/docs/reference/kubernetes-api/authentication-resources/token-request-v1/).
 */
import { ApiException, CoreV1Api, KubeConfig, type AuthenticationV1TokenRequest } from '@kubernetes/client-node';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_NAMESPACE,
  DEFAULT_POD,
  DEFAULT_SERVICE_ACCOUNT,
  OTHER_NAMESPACE,
  startKubernetesEmulator,
  type KubernetesEmulator,
} from '../kubernetes/index.ts';

let k8s: KubernetesEmulator;

function coreApi(token: string): CoreV1Api {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // client-node speaks plain http (the emulator on loopback) only with skipTLSVerify set.
    clusters: [{ name: 'emulated', server: k8s.url, skipTLSVerify: true }],
    users: [{ name: 'operator', token }],
    contexts: [{ name: 'emulated', cluster: 'emulated', user: 'operator' }],
    currentContext: 'emulated',
  });
  return kc.makeApiClient(CoreV1Api);
}

const tokenRequest = (spec: AuthenticationV1TokenRequest['spec']): AuthenticationV1TokenRequest => ({
  apiVersion: 'authentication.k8s.io/v1',
  kind: 'TokenRequest',
  spec,
});

async function verify(token: string) {
  const jwks = (await (await fetch(k8s.jwksUri)).json()) as { keys: JsonWebKey[] };
  return jwtVerify(token, createLocalJWKSet(jwks as never), { algorithms: ['RS256'], issuer: k8s.issuer });
}

/** The Status body of a refused call, as the client hands it over. */
async function refusal(call: Promise<unknown>): Promise<{ code: number; body: Record<string, unknown> | undefined }> {
  try {
    await call;
  } catch (e) {
    if (!(e instanceof ApiException)) throw e;
    const body =
      typeof e.body === 'string'
        ? (JSON.parse(e.body) as Record<string, unknown>)
        : (e.body as Record<string, unknown> | undefined);
    return { code: e.code, body };
  }
  throw new Error('the call was not refused');
}

beforeAll(async () => {
  k8s = await startKubernetesEmulator();
});
afterAll(async () => {
  await k8s?.close();
});

describe('Kubernetes API server emulator (issue 11 item 3)', () => {
  it('serves discovery and a JWKS whose issuer is the configured service account issuer', async () => {
    const discovery = (await (await fetch(`${k8s.url}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(discovery).toEqual({
      issuer: k8s.issuer,
      jwks_uri: `${k8s.url}/openid/v1/jwks`,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
    });
    const jwks = await fetch(k8s.jwksUri);
    expect(jwks.headers.get('content-type')).toBe('application/jwk-set+json');
    const { keys } = (await jwks.json()) as { keys: Record<string, string>[] };
    expect(keys).toEqual([expect.objectContaining({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: k8s.signingKey.kid })]);
  });

  it('issue 11 item 3: @kubernetes/client-node mints a token with TokenRequest, with the real claim shape', async () => {
    const tr = await coreApi(k8s.adminToken).createNamespacedServiceAccountToken({
      name: DEFAULT_SERVICE_ACCOUNT,
      namespace: DEFAULT_NAMESPACE,
      body: tokenRequest({ audiences: ['https://bridge.example'], expirationSeconds: 900 }),
    });
    expect(tr.kind).toBe('TokenRequest');
    expect(tr.spec).toMatchObject({ audiences: ['https://bridge.example'], expirationSeconds: 900 });
    const token = tr.status!.token!;
    const { payload } = await verify(token);
    const sa = k8s.cluster.serviceAccounts.find(
      (s) => s.namespace === DEFAULT_NAMESPACE && s.name === DEFAULT_SERVICE_ACCOUNT,
    )!;
    // Kubernetes writes aud as an array even with one audience, and iat = nbf.
    expect(payload).toMatchObject({
      aud: ['https://bridge.example'],
      iss: k8s.issuer,
      sub: `system:serviceaccount:${DEFAULT_NAMESPACE}:${DEFAULT_SERVICE_ACCOUNT}`,
      'kubernetes.io': { namespace: DEFAULT_NAMESPACE, serviceaccount: { name: DEFAULT_SERVICE_ACCOUNT, uid: sa.uid } },
      nbf: payload.iat,
      exp: payload.iat! + 900,
    });
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(payload['kubernetes.io']).not.toHaveProperty('pod');
    expect(tr.status!.expirationTimestamp!.getTime()).toBe(payload.exp! * 1000);
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'RS256', kid: k8s.signingKey.kid });
  });

  it('a token bound to a pod carries the pod and its node; without audiences it is for the API server', async () => {
    const pod = k8s.cluster.pods.find((p) => p.name === DEFAULT_POD)!;
    const tr = await coreApi(k8s.adminToken).createNamespacedServiceAccountToken({
      name: DEFAULT_SERVICE_ACCOUNT,
      namespace: DEFAULT_NAMESPACE,
      body: tokenRequest({
        audiences: [],
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.name, uid: pod.uid },
      }),
    });
    const { payload } = await verify(tr.status!.token!);
    const node = k8s.cluster.nodes.find((n) => n.name === pod.nodeName)!;
    expect(payload.aud).toEqual([k8s.issuer]);
    expect(payload.exp! - payload.iat!).toBe(3600);
    expect(payload['kubernetes.io']).toMatchObject({
      pod: { name: pod.name, uid: pod.uid },
      node: { name: node.name, uid: node.uid },
    });
  });

  it('issue 11 item 3: TokenRequest with a wrong admin token is refused with a Status 401; a known user without the right gets 403', async () => {
    const body = tokenRequest({ audiences: ['https://bridge.example'] });
    const wrong = await refusal(
      coreApi('not-the-admin-token').createNamespacedServiceAccountToken({
        name: DEFAULT_SERVICE_ACCOUNT,
        namespace: DEFAULT_NAMESPACE,
        body,
      }),
    );
    expect(wrong.code).toBe(401);
    const noToken = await fetch(
      `${k8s.url}/api/v1/namespaces/${DEFAULT_NAMESPACE}/serviceaccounts/${DEFAULT_SERVICE_ACCOUNT}/token`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      },
    );
    expect(noToken.status).toBe(401);
    expect(await noToken.json()).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    });
    const viewer = await refusal(
      coreApi(k8s.viewerToken).createNamespacedServiceAccountToken({
        name: DEFAULT_SERVICE_ACCOUNT,
        namespace: DEFAULT_NAMESPACE,
        body,
      }),
    );
    expect(viewer).toMatchObject({
      code: 403,
      body: {
        kind: 'Status',
        reason: 'Forbidden',
        code: 403,
        details: { kind: 'serviceaccounts', name: DEFAULT_SERVICE_ACCOUNT },
      },
    });
  });

  it('refuses what the API server refuses: under ten minutes (422), unknown account (404), a pod of another account or uid (400, 409)', async () => {
    const api = coreApi(k8s.adminToken);
    const short = await refusal(
      api.createNamespacedServiceAccountToken({
        name: DEFAULT_SERVICE_ACCOUNT,
        namespace: DEFAULT_NAMESPACE,
        body: tokenRequest({ audiences: ['a'], expirationSeconds: 599 }),
      }),
    );
    expect(short).toMatchObject({
      code: 422,
      body: { reason: 'Invalid', details: { causes: [{ field: 'spec.expirationSeconds' }] } },
    });
    const missing = await refusal(
      api.createNamespacedServiceAccountToken({
        name: 'nobody',
        namespace: DEFAULT_NAMESPACE,
        body: tokenRequest({ audiences: ['a'] }),
      }),
    );
    expect(missing).toMatchObject({
      code: 404,
      body: { reason: 'NotFound', details: { kind: 'serviceaccounts', name: 'nobody' } },
    });
    const otherPod = k8s.cluster.pods.find((p) => p.namespace === OTHER_NAMESPACE)!;
    const crossNamespace = await refusal(
      api.createNamespacedServiceAccountToken({
        name: DEFAULT_SERVICE_ACCOUNT,
        namespace: DEFAULT_NAMESPACE,
        body: tokenRequest({
          audiences: ['a'],
          boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: otherPod.name },
        }),
      }),
    );
    expect(crossNamespace).toMatchObject({ code: 404, body: { details: { kind: 'pods' } } });
    const wrongAccount = await refusal(
      api.createNamespacedServiceAccountToken({
        name: 'default',
        namespace: DEFAULT_NAMESPACE,
        body: tokenRequest({ audiences: ['a'], boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: DEFAULT_POD } }),
      }),
    );
    expect(wrongAccount).toMatchObject({ code: 400, body: { reason: 'BadRequest' } });
    const staleUid = await refusal(
      api.createNamespacedServiceAccountToken({
        name: DEFAULT_SERVICE_ACCOUNT,
        namespace: DEFAULT_NAMESPACE,
        body: tokenRequest({
          audiences: ['a'],
          boundObjectRef: {
            kind: 'Pod',
            apiVersion: 'v1',
            name: DEFAULT_POD,
            uid: '00000000-0000-4000-8000-000000000000',
          },
        }),
      }),
    );
    expect(staleUid).toMatchObject({ code: 409, body: { reason: 'Conflict' } });
  });

  it('mints negative vectors: a legacy Secret token has no exp and the legacy issuer', async () => {
    const { payload } = await jwtVerify(
      await k8s.mintLegacySecretToken(),
      createLocalJWKSet({ keys: [k8s.signingKey.publicJwk] } as never),
      { algorithms: ['RS256'] },
    );
    expect(payload.iss).toBe('kubernetes/serviceaccount');
    expect(payload.exp).toBeUndefined();
    expect(payload['kubernetes.io/serviceaccount/namespace']).toBe(DEFAULT_NAMESPACE);
  });
});
