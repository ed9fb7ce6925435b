/**
 * The claims of a service account token as kube-apiserver signs it
 * (https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/#bound-service-account-tokens):
 * `aud` always a JSON array, `iat` = `nbf`, a `jti`, and the private `kubernetes.io` claim with the
 * namespace, the service account, and the object the token is bound to (a pod brings its node).
 * Keys in alphabetical order, as the API server's JSON encoder writes them.
 */
import { randomUUID } from 'node:crypto';
import type { NamedObject, ServiceAccount } from './cluster.ts';

export type BoundObject =
  | { kind: 'Pod'; pod: NamedObject; node?: NamedObject }
  | { kind: 'Secret'; secret: NamedObject }
  | { kind: 'Node'; node: NamedObject };

export interface ServiceAccountTokenInput {
  issuer: string;
  serviceAccount: ServiceAccount;
  audiences: readonly string[];
  iat: number;
  expirationSeconds: number;
  bound?: BoundObject;
}

export function serviceAccountSubject(sa: Pick<ServiceAccount, 'namespace' | 'name'>): string {
  return `system:serviceaccount:${sa.namespace}:${sa.name}`;
}

export function serviceAccountTokenClaims(p: ServiceAccountTokenInput): Record<string, unknown> {
  const sa = p.serviceAccount;
  const k8s: Record<string, unknown> = { namespace: sa.namespace };
  const bound = p.bound;
  const node = bound?.kind === 'Node' || bound?.kind === 'Pod' ? bound.node : undefined;
  if (node) k8s.node = { ...node };
  if (bound?.kind === 'Pod') k8s.pod = { ...bound.pod };
  if (bound?.kind === 'Secret') k8s.secret = { ...bound.secret };
  k8s.serviceaccount = { name: sa.name, uid: sa.uid };
  return {
    aud: [...p.audiences],
    exp: p.iat + p.expirationSeconds,
    iat: p.iat,
    iss: p.issuer,
    jti: randomUUID(),
    'kubernetes.io': k8s,
    nbf: p.iat,
    sub: serviceAccountSubject(sa),
  };
}

/**
 * A legacy token from a `kubernetes.io/service-account-token` Secret: issuer `kubernetes/serviceaccount`,
 * flat claims, no `aud`, no `exp` (it never expires), for refusal tests only
 * (https://kubernetes.io/docs/concepts/security/service-accounts/#get-a-token).
 */
export function legacySecretTokenClaims(sa: ServiceAccount, secretName: string): Record<string, unknown> {
  return {
    iss: 'kubernetes/serviceaccount',
    'kubernetes.io/serviceaccount/namespace': sa.namespace,
    'kubernetes.io/serviceaccount/secret.name': secretName,
    'kubernetes.io/serviceaccount/service-account.name': sa.name,
    'kubernetes.io/serviceaccount/service-account.uid': sa.uid,
    sub: serviceAccountSubject(sa),
  };
}
