/**
 * How a verified n8n instance assertion becomes a VerifiedWorkload (docs/platforms/n8n.md#assertion-format). Pure: plain claims in, workload fields or a refusal out.
 */
import type { JWTPayload } from 'jose';
import { isRecord } from '../../src/util/is-record.ts';
import { accept, refuse, type Result, type WorkloadFields } from '../../src/verify/contract.ts';

export const N8N_ISSUER_PREFIX = 'n8n:';
/** n8n workflow ids are 16-character nanoids today (numeric in n8n < 1.0); bound the length anyway. */
const WORKFLOW_ID = /^[A-Za-z0-9_-]{1,128}$/;
/** Bounds what one proof can put into the replay store and the audit log. */
const MAX_JTI_CHARS = 256;
const MAX_AUDIT_VALUE_CHARS = 256;
/** Members of the optional `n8n` claim, kept for the audit log only: policy never sees them. */
const AUDIT_MEMBERS = {
  execution_id: 'n8n_execution_id',
  workflow_name: 'n8n_workflow_name',
  node_name: 'n8n_node_name',
} as const;

/**
 * Optional claims the instance signs besides the workflow id, each an attribute rules may require
 * (docs/platforms/n8n.md#workflow-ids-can-be-squatted): the n8n project the credential belongs to (nanoids,
 * bounded) and n8n's execution mode (manual, trigger, webhook…: lower-case words).
 */
const ATTESTED_CLAIMS = [
  { claim: 'project_id', pattern: /^[A-Za-z0-9_-]{1,128}$/, form: '1-128 of [A-Za-z0-9_-]' },
  { claim: 'execution_mode', pattern: /^[a-z][A-Za-z]{0,31}$/, form: 'an n8n execution mode such as "trigger"' },
] as const;

/** Every attribute name an n8n workload carries: what a policy rule may match (docs/platforms/n8n.md). */
export function isN8nAttribute(name: string): boolean {
  return name === 'instance_id' || name === 'workflow_id' || ATTESTED_CLAIMS.some((c) => c.claim === name);
}

export function n8nIssuer(instanceId: string): string {
  return `${N8N_ISSUER_PREFIX}${instanceId}`;
}

export function n8nSubject(instanceId: string, workflowId: string): string {
  return `${n8nIssuer(instanceId)}:workflow:${workflowId}`;
}

/** `iss` has already been verified to be `n8n:<instanceId>` of a registered instance. */
export function n8nWorkloadFromClaims(payload: JWTPayload, instanceId: string): Result<WorkloadFields> {
  const prefix = `${n8nIssuer(instanceId)}:workflow:`;
  const sub = payload.sub;
  // sub must name a workflow of the very instance that signed (iss): one instance never speaks for another.
  if (typeof sub !== 'string' || !sub.startsWith(prefix))
    return refuse('proof_claim', `sub must be "${prefix}<workflowId>"`, {
      fields: { claim: 'sub', expected: `${prefix}<workflowId>` },
    });
  const workflowId = sub.slice(prefix.length);
  if (!WORKFLOW_ID.test(workflowId))
    return refuse('proof_claim', 'sub: the workflow id must be 1-128 of [A-Za-z0-9_-]', { fields: { claim: 'sub' } });
  if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > MAX_JTI_CHARS)
    return refuse('proof_claim', `jti must be a string of 1-${MAX_JTI_CHARS} characters`, { fields: { claim: 'jti' } });

  const attested: Record<string, string> = {};
  for (const { claim, pattern, form } of ATTESTED_CLAIMS) {
    const value = payload[claim];
    if (value === undefined) continue;
    // Refused rather than dropped: a signer that sends a malformed value is broken, and the audit log says which claim.
    if (typeof value !== 'string' || !pattern.test(value))
      return refuse('proof_claim', `${claim} must be ${form}`, { fields: { claim, expected: form } });
    attested[claim] = value;
  }

  const auditContext: Record<string, string> = {};
  if (payload.n8n !== undefined) {
    const n8n = payload.n8n;
    if (!isRecord(n8n)) return refuse('proof_claim', 'the n8n claim must be an object', { fields: { claim: 'n8n' } });
    for (const [member, key] of Object.entries(AUDIT_MEMBERS)) {
      const value = n8n[member];
      if (typeof value === 'string' && value.length > 0) auditContext[key] = value.slice(0, MAX_AUDIT_VALUE_CHARS);
    }
  }
  return accept({
    principal: sub,
    proofId: payload.jti,
    // Never the workflow name: anyone who can edit a workflow can rename it (docs/platforms/n8n.md#what-the-proof-attests).
    attributes: { instance_id: instanceId, workflow_id: workflowId, ...attested },
    ...(Object.keys(auditContext).length > 0 ? { auditContext } : {}),
  });
}
