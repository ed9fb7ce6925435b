/**
 * The API server's error body: a `Status` object with `reason` and `code`
 * (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/status/).
 */

export interface KubernetesStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason:
    | 'Unauthorized'
    | 'Forbidden'
    | 'NotFound'
    | 'BadRequest'
    | 'Invalid'
    | 'Conflict'
    | 'UnsupportedMediaType'
    | 'MethodNotAllowed';
  details?: Record<string, unknown>;
  code: number;
}

function status(
  code: number,
  reason: KubernetesStatus['reason'],
  message: string,
  details?: Record<string, unknown>,
): KubernetesStatus {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

export const unauthorized = (): KubernetesStatus => status(401, 'Unauthorized', 'Unauthorized');

export const forbidden = (user: string, ns: string, name: string): KubernetesStatus =>
  status(
    403,
    'Forbidden',
    `serviceaccounts "${name}" is forbidden: User "${user}" cannot create resource "serviceaccounts/token" in API group "" in the namespace "${ns}"`,
    {
      name,
      kind: 'serviceaccounts',
    },
  );

export const notFound = (kind: 'serviceaccounts' | 'pods' | 'secrets' | 'nodes', name: string): KubernetesStatus =>
  status(404, 'NotFound', `${kind} "${name}" not found`, { name, kind });

/** A path the API server does not serve. */
export const noSuchResource = (): KubernetesStatus =>
  status(404, 'NotFound', 'the server could not find the requested resource', {});

export const badRequest = (message: string): KubernetesStatus => status(400, 'BadRequest', message);

export const unsupportedMediaType = (contentType: string): KubernetesStatus =>
  status(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf; got ${contentType}`,
  );

/** A field validation failure (HTTP 422), e.g. `spec.expirationSeconds` under ten minutes. */
export const invalid = (name: string, field: string, value: unknown, detail: string): KubernetesStatus => {
  const cause = `Invalid value: ${JSON.stringify(value)}: ${detail}`;
  return status(422, 'Invalid', `TokenRequest.authentication.k8s.io "${name}" is invalid: ${field}: ${cause}`, {
    name,
    group: 'authentication.k8s.io',
    kind: 'TokenRequest',
    causes: [{ reason: 'FieldValueInvalid', message: cause, field }],
  });
};

export const conflict = (kind: string, name: string, uid: string): KubernetesStatus =>
  status(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${kind} "${name}": the UID in the bound object reference (${uid}) does not match the UID in record. The object might have been deleted and then recreated`,
    { name, kind },
  );
