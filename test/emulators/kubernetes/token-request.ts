/**
 * `POST /api/v1/namespaces/{namespace}/serviceaccounts/{name}/token`: the TokenRequest subresource
 * (https://kubernetes.io/docs/reference/kubernetes-api/authentication-resources/token-request-v1/).
 * The body is an `authentication.k8s.io/v1` TokenRequest; `spec.audiences` defaults to the API
 * server's own audience, `spec.expirationSeconds` to one hour and may not be under ten minutes,
 * `spec.boundObjectRef` binds the token to a Pod, Secret or Node of the cluster.
 */
import type { BoundObject } from './claims.ts';
import type { Cluster, ServiceAccount } from './cluster.ts';
import { badRequest, conflict, invalid, notFound, type KubernetesStatus } from './status.ts';

export const TOKEN_REQUEST_API_VERSION = 'authentication.k8s.io/v1';
/** The API server's default when `spec.expirationSeconds` is absent. */
export const DEFAULT_EXPIRATION_SECONDS = 3600;
/** ValidateTokenRequest: "may not specify a duration less than 10 minutes". */
export const MIN_EXPIRATION_SECONDS = 600;
/** ValidateTokenRequest: "may not specify a duration larger than 2^32 seconds". */
export const MAX_EXPIRATION_SECONDS = 2 ** 32;

export interface TokenRequestPlan {
  serviceAccount: ServiceAccount;
  audiences: string[];
  expirationSeconds: number;
  bound?: BoundObject;
  /** The spec echoed in the answer, defaults filled in. */
  spec: Record<string, unknown>;
}

export type TokenRequestOutcome = { ok: true; plan: TokenRequestPlan } | { ok: false; status: KubernetesStatus };

const fail = (status: KubernetesStatus): TokenRequestOutcome => ({ ok: false, status });
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function planTokenRequest(
  cluster: Cluster,
  ns: string,
  name: string,
  body: unknown,
  apiAudiences: readonly string[],
): TokenRequestOutcome {
  if (!isRecord(body)) return fail(badRequest('the object provided is unrecognized (must be of type TokenRequest)'));
  if (body.apiVersion !== undefined && body.apiVersion !== TOKEN_REQUEST_API_VERSION) {
    return fail(
      badRequest(
        `the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${TOKEN_REQUEST_API_VERSION})`,
      ),
    );
  }
  if (body.kind !== undefined && body.kind !== 'TokenRequest')
    return fail(
      badRequest(`the kind in the data (${String(body.kind)}) does not match the expected kind (TokenRequest)`),
    );
  const serviceAccount = cluster.serviceAccounts.find((sa) => sa.namespace === ns && sa.name === name);
  if (!serviceAccount) return fail(notFound('serviceaccounts', name));

  const spec = isRecord(body.spec) ? body.spec : {};
  let audiences = [...apiAudiences];
  if (spec.audiences !== undefined && spec.audiences !== null) {
    if (!Array.isArray(spec.audiences) || spec.audiences.some((a) => typeof a !== 'string'))
      return fail(badRequest('spec.audiences: expected an array of strings'));
    if (spec.audiences.length > 0) audiences = spec.audiences as string[];
  }
  const expirationSeconds = spec.expirationSeconds ?? DEFAULT_EXPIRATION_SECONDS;
  if (typeof expirationSeconds !== 'number' || !Number.isInteger(expirationSeconds))
    return fail(badRequest('spec.expirationSeconds: expected an integer'));
  if (expirationSeconds < MIN_EXPIRATION_SECONDS)
    return fail(
      invalid(name, 'spec.expirationSeconds', expirationSeconds, 'may not specify a duration less than 10 minutes'),
    );
  if (expirationSeconds > MAX_EXPIRATION_SECONDS)
    return fail(
      invalid(name, 'spec.expirationSeconds', expirationSeconds, 'may not specify a duration larger than 2^32 seconds'),
    );

  const echoed: Record<string, unknown> = { audiences, expirationSeconds, boundObjectRef: null };
  if (spec.boundObjectRef === undefined || spec.boundObjectRef === null)
    return { ok: true, plan: { serviceAccount, audiences, expirationSeconds, spec: echoed } };
  const bound = resolveBoundObject(cluster, serviceAccount, spec.boundObjectRef);
  if ('status' in bound) return fail(bound.status);
  echoed.boundObjectRef = spec.boundObjectRef;
  return { ok: true, plan: { serviceAccount, audiences, expirationSeconds, bound: bound.object, spec: echoed } };
}

function resolveBoundObject(
  cluster: Cluster,
  sa: ServiceAccount,
  ref: unknown,
): { object: BoundObject } | { status: KubernetesStatus } {
  if (!isRecord(ref) || typeof ref.name !== 'string' || ref.name === '')
    return { status: badRequest('spec.boundObjectRef.name: Required value') };
  const { kind, name } = ref as { kind?: unknown; name: string };
  const uid = typeof ref.uid === 'string' && ref.uid !== '' ? ref.uid : undefined;
  if ((ref.apiVersion ?? 'v1') !== 'v1' || (kind !== 'Pod' && kind !== 'Secret' && kind !== 'Node')) {
    return {
      status: badRequest(`cannot bind token to object of type ${String(ref.apiVersion ?? 'v1')}, Kind=${String(kind)}`),
    };
  }
  const uidMismatch = (actual: string) => uid !== undefined && uid !== actual;
  if (kind === 'Pod') {
    const pod = cluster.pods.find((p) => p.namespace === sa.namespace && p.name === name);
    if (!pod) return { status: notFound('pods', name) };
    if (uidMismatch(pod.uid)) return { status: conflict('Pod', name, uid!) };
    if (pod.serviceAccountName !== sa.name)
      return {
        status: badRequest(
          `cannot bind token for serviceaccount "${sa.name}" to pod running with different serviceaccount name.`,
        ),
      };
    const node = cluster.nodes.find((n) => n.name === pod.nodeName);
    return { object: { kind: 'Pod', pod: { name: pod.name, uid: pod.uid }, ...(node ? { node: { ...node } } : {}) } };
  }
  if (kind === 'Secret') {
    const secret = cluster.secrets.find((s) => s.namespace === sa.namespace && s.name === name);
    if (!secret) return { status: notFound('secrets', name) };
    if (uidMismatch(secret.uid)) return { status: conflict('Secret', name, uid!) };
    return { object: { kind: 'Secret', secret: { name: secret.name, uid: secret.uid } } };
  }
  const node = cluster.nodes.find((n) => n.name === name);
  if (!node) return { status: notFound('nodes', name) };
  if (uidMismatch(node.uid)) return { status: conflict('Node', name, uid!) };
  return { object: { kind: 'Node', node: { ...node } } };
}
