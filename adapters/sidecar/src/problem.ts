/**
 * The sidecar's errors as RFC 7807 problem details (application/problem+json), the shape Microsoft's
 * sidecar answers with and its clients read (https://learn.microsoft.com/en-us/entra/msidweb/agent-id-sdk/endpoints,
 * "Common error patterns"). Microsoft's Agents SDK shows the caller only `title` (it never surfaces
 * `detail`: @microsoft/agents-hosting src/auth/sidecar/sidecarHttpClient.ts), so every title says
 * on its own what to fix. Retryable problems are 503 with Retry-After; everything a retry cannot
 * fix is 4xx. No problem ever contains a token.
 */
import { PROBLEM_TYPE_PREFIX } from './constants.ts';

export type ProblemCode =
  | 'caller_not_loopback'
  | 'host_not_loopback'
  | 'not_found'
  | 'method_not_allowed'
  | 'blueprint_token_refused'
  | 'invalid_parameter'
  | 'unsupported_option'
  | 'no_scopes'
  | 'multiple_resources'
  | 'app_token_scope'
  | 'user_token_required'
  | 'tenant_mismatch'
  | 'bridge_refused'
  | 'bridge_unavailable'
  | 'proof_unavailable'
  | 'unhealthy'
  | 'internal_error';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail?: string;
  /** The bridge's RFC 6749 `error` and `request_id` (the key to its audit line), when the bridge answered. */
  error?: string;
  request_id?: string;
}

export class SidecarProblem extends Error {
  readonly code: ProblemCode;
  readonly status: number;
  readonly title: string;
  readonly detail: string | undefined;
  readonly retryAfterSec: number | undefined;
  readonly bridgeError: string | undefined;
  readonly requestId: string | undefined;
  constructor(
    code: ProblemCode,
    status: number,
    title: string,
    opts: { detail?: string; retryAfterSec?: number; bridgeError?: string; requestId?: string } = {},
  ) {
    super(title);
    this.name = 'SidecarProblem';
    this.code = code;
    this.status = status;
    this.title = title;
    this.detail = opts.detail;
    this.retryAfterSec = opts.retryAfterSec;
    this.bridgeError = opts.bridgeError;
    this.requestId = opts.requestId;
  }

  get body(): ProblemBody {
    return {
      type: `${PROBLEM_TYPE_PREFIX}${this.code}`,
      title: this.title,
      status: this.status,
      ...(this.detail !== undefined ? { detail: this.detail } : {}),
      ...(this.bridgeError !== undefined ? { error: this.bridgeError } : {}),
      ...(this.requestId !== undefined ? { request_id: this.requestId } : {}),
    };
  }
}

/** A 400 about one query parameter. */
export function invalidParameter(title: string, detail?: string): SidecarProblem {
  return new SidecarProblem('invalid_parameter', 400, title, detail !== undefined ? { detail } : {});
}
