/**
 * Kubernetes service account tokens (TokenRequest API, projected volumes). Their private claim
 * `kubernetes.io` carries the namespace, the service account and, for a token bound to a pod, the pod
 * and its node; `sub` is `system:serviceaccount:<namespace>:<name>`
 * (https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/#bound-service-account-tokens).
 *
 * Legacy secret-based tokens carry no `exp` and never expire; the shared verifier requires `exp`, so
 * they are refused (proof_claim, claim exp missing) before this mapping runs.
 */
import type { JWTPayload } from 'jose';
import { isRecord } from '../../../src/util/is-record.ts';
import { accept, refuse, type Refusal, type Result, type WorkloadFields } from '../../../src/verify/contract.ts';
import { DEFAULT_LIFETIME_SEC } from '../constants.ts';
import type { OidcProfile } from './profile.ts';

/**
 * Namespaces are DNS labels and service account names DNS subdomains
 * (https://kubernetes.io/docs/concepts/overview/working-with-objects/names/): neither holds ":", so
 * the principal `system:serviceaccount:<ns>:<name>` has one reading.
 */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
/** Object names and uids of the bound pod and node: bounded, printable, no ":". */
const OBJECT_FIELD = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

const CLAIM = 'kubernetes.io';

export const KUBERNETES_ATTRIBUTES = [
  'namespace',
  'service_account_name',
  'service_account_uid',
  'pod_name',
  'pod_uid',
  'node_name',
] as const;

export function serviceAccountPrincipal(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

export const kubernetesProfile: OidcProfile = {
  proofKind: 'oidc-kubernetes',
  attributes: KUBERNETES_ATTRIBUTES,
  defaultLifetimeSec: DEFAULT_LIFETIME_SEC.kubernetes,
  toWorkload: (payload) => kubernetesWorkload(payload),
};

function kubernetesWorkload(payload: JWTPayload): Result<WorkloadFields> {
  const k8s = payload[CLAIM];
  if (!isRecord(k8s)) return bad(CLAIM, 'is missing or not an object: not a bound service account token');
  const namespace = k8s.namespace;
  if (typeof namespace !== 'string' || !DNS_LABEL.test(namespace))
    return bad(`${CLAIM}.namespace`, 'must be a namespace name');
  const sa = objectRef(k8s.serviceaccount, `${CLAIM}.serviceaccount`, true);
  if (!sa.ok) return sa;
  if (!DNS_SUBDOMAIN.test(sa.value!.name)) return bad(`${CLAIM}.serviceaccount.name`, 'must be a service account name');
  const principal = serviceAccountPrincipal(namespace, sa.value!.name);
  // The API server writes both; a token whose sub names another account than its claims is not one it issued.
  if (payload.sub !== principal)
    return refuse('proof_claim', `sub does not match ${CLAIM} (expected ${principal})`, {
      fields: { claim: 'sub', expected: principal, received: JSON.stringify(payload.sub) ?? 'absent' },
    });

  const attributes: Record<string, string> = {
    namespace,
    service_account_name: sa.value!.name,
    service_account_uid: sa.value!.uid,
  };
  const pod = objectRef(k8s.pod, `${CLAIM}.pod`, false);
  if (!pod.ok) return pod;
  if (pod.value) Object.assign(attributes, { pod_name: pod.value.name, pod_uid: pod.value.uid });
  const node = objectRef(k8s.node, `${CLAIM}.node`, false);
  if (!node.ok) return node;
  if (node.value) attributes.node_name = node.value.name;
  return accept({ principal, attributes });
}

function objectRef(
  value: unknown,
  claim: string,
  required: boolean,
): Result<{ name: string; uid: string } | undefined> {
  if (value === undefined && !required) return accept(undefined);
  if (!isRecord(value)) return bad(claim, 'must be an object with name and uid');
  const { name, uid } = value;
  if (typeof name !== 'string' || !OBJECT_FIELD.test(name)) return bad(`${claim}.name`, 'must be an object name');
  if (typeof uid !== 'string' || !OBJECT_FIELD.test(uid)) return bad(`${claim}.uid`, 'must be an object uid');
  return accept({ name, uid });
}

function bad(claim: string, what: string): Refusal {
  return refuse('proof_claim', `claim ${claim} ${what}`, { fields: { claim } });
}
