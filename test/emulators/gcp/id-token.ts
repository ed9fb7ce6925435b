/**
 * The claims of an ID token as the GCE metadata server issues it
 * (https://cloud.google.com/compute/docs/instances/verifying-instance-identity).
 */

export interface GcpServiceAccount {
  email: string;
  /** The service account's unique id: 21 decimal digits; `sub` and `azp` of its ID tokens. */
  uniqueId: string;
  projectId: string;
  projectNumber: string;
}

export interface GcpInstance {
  zone: string;
  instanceId: string;
  instanceName: string;
  /** Unix seconds. */
  creationTimestamp: number;
}

export type IdTokenFormat = 'standard' | 'full';

export const GOOGLE_ISSUER = 'https://accounts.google.com';
/** Metadata-server ID tokens live one hour. */
export const ID_TOKEN_LIFETIME_SEC = 3600;

export interface IdTokenClaimsInput {
  serviceAccount: GcpServiceAccount;
  instance: GcpInstance;
  audience: string;
  format: IdTokenFormat;
  licenses: boolean;
  iat: number;
  exp: number;
}

export function idTokenClaims(p: IdTokenClaimsInput): Record<string, unknown> {
  const sa = p.serviceAccount;
  // Key order as Google emits it. `email` only with format=full: the historical GCE quirk (CONTRIBUTING.md#gcp-metadata).
  const claims: Record<string, unknown> = { aud: p.audience, azp: sa.uniqueId };
  if (p.format === 'full') {
    claims.email = sa.email;
    claims.email_verified = true;
  }
  claims.exp = p.exp;
  if (p.format === 'full') {
    const computeEngine: Record<string, unknown> = {
      instance_creation_timestamp: p.instance.creationTimestamp,
      instance_id: p.instance.instanceId,
      instance_name: p.instance.instanceName,
      project_id: sa.projectId,
      // A JSON number in real tokens, not a string.
      project_number: Number(sa.projectNumber),
      zone: p.instance.zone,
    };
    if (p.licenses) computeEngine.license_id = [];
    claims.google = { compute_engine: computeEngine };
  }
  claims.iat = p.iat;
  claims.iss = GOOGLE_ISSUER;
  claims.sub = sa.uniqueId;
  return claims;
}

/** Apply test overrides: a key set to `undefined` is removed. */
export function withOverrides(
  base: Record<string, unknown>,
  overrides: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const out = { ...base };
  for (const [key, value] of Object.entries(overrides ?? {})) {
    if (value === undefined) delete out[key];
    else out[key] = value;
  }
  return out;
}
