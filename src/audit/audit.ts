/**
 * One JSON line per decision (docs/operations.md#audit-log). It records who asked, which rule
 * decided, what was issued and why something was refused, and the SHA-256 of any token: never a
 * token, assertion or key. Operators grep it at 3 a.m.: field names are stable.
 */
import type { ReasonCode } from '../errors.ts';

export interface AuditEvent {
  time: string;
  request_id: string;
  route: '/token' | '/explain';
  outcome: 'issued' | 'denied' | 'error' | 'explained';
  /** The client address the per-address limit counted (src/limits/client-address.ts). */
  client?: string;
  platform?: string;
  proof_kind?: string;
  issuer?: string;
  principal?: string;
  attributes?: Readonly<Record<string, string>>;
  context?: Readonly<Record<string, string>>;
  rule?: string;
  tenant?: string;
  blueprint?: string;
  agent?: string;
  resource?: string;
  mode?: string;
  agent_user?: string;
  reason?: ReasonCode;
  detail?: string;
  /** Structured facts of a refusal (claim, expected, received, host), each value capped. */
  fields?: Readonly<Record<string, string>>;
  aadsts?: string;
  entra_correlation_id?: string;
  /** Hash of the issued access token, so an operator can match a token seen elsewhere. */
  token_sha256?: string;
  /** Hash of the presented proof. */
  proof_sha256?: string;
  cache?: 'hit' | 'miss';
  /**
   * Where the verified workload came from: verified by this request (`verified`), recalled from this
   * process's verified-proof cache (`recalled`), or recalled from the one shared through Redis, verified
   * by another replica (`recalled_shared`). `context` always describes the verification that happened,
   * e.g. an AWS `sts_call: made` on a recalled proof is the call the verifying replica made.
   */
  proof_verification?: 'verified' | 'recalled' | 'recalled_shared';
  duration_ms?: number;
}

export type AuditSink = (event: AuditEvent) => void;

/**
 * Writes JSON lines through `write`: console.log by default (Workers Logs on Cloudflare), the
 * buffered stdout writer on Node (./line-writer.ts). The `type` field comes first, spliced in
 * front of the event's own JSON rather than copied into a new object for every line.
 */
export function jsonLineAuditSink(write: (line: string) => void = (l) => console.log(l)): AuditSink {
  return (event) => write(`{"type":"audit",${JSON.stringify(event).slice(1)}`);
}

export const discardAudit: AuditSink = () => {};

let stampedMs = Number.NaN;
let stamp = '';

/**
 * `new Date(ms).toISOString()`, remembered for the last millisecond asked: a busy bridge stamps many
 * audit lines within one millisecond, and formatting the date is a visible share of a cached exchange.
 */
export function isoTime(ms: number): string {
  if (ms !== stampedMs) {
    stamp = new Date(ms).toISOString();
    stampedMs = ms;
  }
  return stamp;
}

/** A compact JWS anywhere in a string: scrubbed from any text that may reach a log. */
const JWT_LIKE = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;

export function scrubSecrets(text: string): string {
  return text.replace(JWT_LIKE, '[redacted-jwt]');
}
