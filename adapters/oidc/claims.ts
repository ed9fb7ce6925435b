/**
 * Claims to attribute values, with their types checked: a string, a finite number or a boolean
 * becomes a string; any other JSON value (object, array, null) is refused, never flattened.
 */
import type { JWTPayload } from 'jose';
import { refuse, type Refusal } from '../../src/verify/contract.ts';
import { MAX_CLAIM_VALUE_CHARS } from './constants.ts';

/** The value of a scalar claim as a string; undefined when absent; a refusal for any other type or an over-long value. */
export function scalarClaim(value: unknown, claim: string): string | undefined | Refusal {
  if (value === undefined) return undefined;
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' && Number.isFinite(value)) text = String(value);
  else if (typeof value === 'boolean') text = String(value);
  else
    return refuse(
      'proof_claim',
      `claim ${claim} is ${value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`}, not a string, number or boolean`,
      { fields: { claim, expected: 'string, number or boolean' } },
    );
  if (text.length > MAX_CLAIM_VALUE_CHARS)
    return refuse('proof_claim', `claim ${claim} is longer than ${MAX_CLAIM_VALUE_CHARS} characters`, {
      fields: { claim, expected: `at most ${MAX_CLAIM_VALUE_CHARS} characters` },
    });
  return text;
}

export function isRefusal(v: unknown): v is Refusal {
  return typeof v === 'object' && v !== null && (v as { ok?: unknown }).ok === false;
}

/**
 * Copies each named top-level claim that is present into `into` under `as(name)`; empty strings are
 * left out (GitHub sends `head_ref: ""` outside pull requests). Returns a refusal on the first bad type.
 */
export function copyClaims(
  payload: JWTPayload,
  names: readonly string[],
  into: Record<string, string>,
  as: (name: string) => string = (n) => n,
): Refusal | undefined {
  for (const name of names) {
    const value = scalarClaim(Object.hasOwn(payload, name) ? payload[name] : undefined, name);
    if (isRefusal(value)) return value;
    if (value !== undefined && value !== '') into[as(name)] = value;
  }
  return undefined;
}

/** A required string claim: present, a non-empty string, bounded. */
export function requiredString(payload: JWTPayload, claim: string): string | Refusal {
  const value = Object.hasOwn(payload, claim) ? payload[claim] : undefined;
  if (typeof value !== 'string' || value.length === 0)
    return refuse('proof_claim', `claim ${claim} must be a non-empty string`, {
      fields: { claim, expected: 'non-empty string', received: value === undefined ? 'absent' : typeof value },
    });
  if (value.length > MAX_CLAIM_VALUE_CHARS)
    return refuse('proof_claim', `claim ${claim} is longer than ${MAX_CLAIM_VALUE_CHARS} characters`, {
      fields: { claim, expected: `at most ${MAX_CLAIM_VALUE_CHARS} characters` },
    });
  return value;
}
