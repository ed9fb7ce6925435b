/**
 * How a verified Google ID token becomes a VerifiedWorkload (docs/platforms/gcp.md#what-policy-can-match).
 * Pure: plain claims in, workload fields or a refusal out.
 */
import type { JWTPayload } from 'jose';
import { isRecord } from '../../src/util/is-record.ts';
import { accept, refuse, type Result, type WorkloadFields } from '../../src/verify/contract.ts';

/** Service account unique ids are decimal numbers (21 digits today); bound the length anyway. */
const NUMERIC_ID = /^[0-9]{1,32}$/;
/** `<name>@<project>.iam.gserviceaccount.com`; project ids are 6–30 chars of [a-z0-9-], starting with a letter. */
const USER_MANAGED_SA_EMAIL = /^[a-z0-9][a-z0-9-]{0,62}@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$/;

/** `google.compute_engine` fields exposed as attributes (format=full on GCE; empty on Cloud Run: docs/platforms/gcp.md#what-policy-can-match). */
const COMPUTE_ENGINE_FIELDS = ['project_id', 'project_number', 'zone', 'instance_id', 'instance_name'] as const;

/** Every attribute name a GCP workload may carry: what a policy rule may match (docs/platforms/gcp.md). */
const GCP_ATTRIBUTES: ReadonlySet<string> = new Set(['azp', 'email', 'project', ...COMPUTE_ENGINE_FIELDS]);

export function isGcpAttribute(name: string): boolean {
  return GCP_ATTRIBUTES.has(name);
}

export function gcpWorkloadFromClaims(payload: JWTPayload): Result<WorkloadFields> {
  const sub = payload.sub;
  // Authorise on `sub`, never on `email`: email is optional and only meaningful when verified (docs/platforms/gcp.md#what-the-bridge-checks-and-why).
  if (typeof sub !== 'string' || !NUMERIC_ID.test(sub))
    return refuse('proof_claim', 'sub is not a numeric service account id', {
      fields: { claim: 'sub', expected: 'numeric service account id' },
    });

  const attributes: Record<string, string> = {};
  if (typeof payload.azp === 'string') attributes.azp = payload.azp;

  const email =
    payload.email_verified === true && typeof payload.email === 'string' ? payload.email.toLowerCase() : undefined;
  if (email !== undefined) attributes.email = email;

  const computeEngine = computeEngineOf(payload);
  for (const field of COMPUTE_ENGINE_FIELDS) {
    const value = scalar(computeEngine?.[field]);
    if (value !== undefined) attributes[field] = value;
  }

  const project = attributes.project_id ?? (email !== undefined ? USER_MANAGED_SA_EMAIL.exec(email)?.[1] : undefined);
  if (project !== undefined) attributes.project = project;

  return accept({ principal: sub, attributes });
}

function computeEngineOf(payload: JWTPayload): Record<string, unknown> | undefined {
  const google = payload.google;
  if (!isRecord(google)) return undefined;
  const ce = google.compute_engine;
  return isRecord(ce) ? ce : undefined;
}

/** Google sends project_number as a JSON number and the rest as strings; attributes are strings. */
function scalar(value: unknown): string | undefined {
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  return undefined;
}
