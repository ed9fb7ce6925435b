/**
 * OIDC workloads by their wire protocols, with fetch only, so that they run in Node (smoke test)
 * and inside workerd (Workers tests) alike: a Kubernetes TokenRequest as kubectl and the client
 * libraries send it (https://kubernetes.io/docs/reference/kubernetes-api/authentication-resources/token-request-v1/),
 * and a GitHub Actions ID token request as @actions/core's getIDToken sends it
 * (node_modules/@actions/core/lib/oidc-utils.js). test/e2e/oidc-workloads.test.ts uses the real clients.
 */
import type { StackInfo } from './types.ts';

export async function kubernetesServiceAccountToken(
  k: StackInfo['kubernetes'],
  audience: string,
  namespace = k.namespace,
): Promise<string> {
  const res = await fetch(
    `${k.apiServer}/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(k.serviceAccount)}/token`,
    {
      method: 'POST',
      headers: {
        authorization: `Bearer ${k.adminToken}`,
        'content-type': 'application/json',
        accept: 'application/json',
      },
      body: JSON.stringify({
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { audiences: [audience], expirationSeconds: 3600 },
      }),
    },
  );
  if (res.status !== 201) throw new Error(`TokenRequest answered HTTP ${res.status}`);
  return ((await res.json()) as { status: { token: string } }).status.token;
}

export async function githubActionsIdToken(g: StackInfo['githubActions'], audience: string): Promise<string> {
  const res = await fetch(`${g.requestUrl}&audience=${encodeURIComponent(audience)}`, {
    headers: { authorization: `Bearer ${g.requestToken}`, accept: 'application/json' },
  });
  if (res.status !== 200) throw new Error(`the Actions token service answered HTTP ${res.status}`);
  return ((await res.json()) as { value: string }).value;
}
