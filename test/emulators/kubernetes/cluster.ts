/**
 * The objects the emulated API server knows: namespaces with their service accounts and pods, and
 * the nodes pods run on. A TokenRequest names a service account and may bind the token to a pod, a
 * secret or a node of the same cluster (https://kubernetes.io/docs/reference/kubernetes-api/authentication-resources/token-request-v1/).
 */
import { randomUUID } from 'node:crypto';

export interface ServiceAccount {
  namespace: string;
  name: string;
  uid: string;
}

export interface Pod {
  namespace: string;
  name: string;
  uid: string;
  /** `spec.serviceAccountName`: a token for another service account cannot be bound to this pod. */
  serviceAccountName: string;
  nodeName: string;
}

export interface NamedObject {
  name: string;
  uid: string;
}

export interface Cluster {
  serviceAccounts: ServiceAccount[];
  pods: Pod[];
  secrets: (NamedObject & { namespace: string })[];
  nodes: NamedObject[];
}

/** The sandbox workload: an agent runner deployment in `agents`, plus the same names in `staging`. */
export const DEFAULT_NAMESPACE = 'agents';
export const DEFAULT_SERVICE_ACCOUNT = 'agent-runner';
export const DEFAULT_POD = 'agent-runner-6c9f7d8b5-x2k4q';
export const OTHER_NAMESPACE = 'staging';

export function defaultCluster(): Cluster {
  const nodes = [{ name: 'node-pool-1-a', uid: randomUUID() }];
  const account = (namespace: string, name: string): ServiceAccount => ({ namespace, name, uid: randomUUID() });
  const pod = (namespace: string, name: string, serviceAccountName: string): Pod => ({
    namespace,
    name,
    uid: randomUUID(),
    serviceAccountName,
    nodeName: nodes[0]!.name,
  });
  return {
    serviceAccounts: [
      account(DEFAULT_NAMESPACE, DEFAULT_SERVICE_ACCOUNT),
      account(DEFAULT_NAMESPACE, 'default'),
      account(OTHER_NAMESPACE, DEFAULT_SERVICE_ACCOUNT),
    ],
    pods: [
      pod(DEFAULT_NAMESPACE, DEFAULT_POD, DEFAULT_SERVICE_ACCOUNT),
      pod(OTHER_NAMESPACE, 'agent-runner-5b8c6f9d4-p7m2n', DEFAULT_SERVICE_ACCOUNT),
    ],
    secrets: [{ namespace: DEFAULT_NAMESPACE, name: 'agent-runner-binding', uid: randomUUID() }],
    nodes,
  };
}
