/**
 * The Workers kill switch's admin endpoint (docs/operations.md#kill-switch): `GET /admin/deny`
 * answers the run-time deny list, `PUT /admin/deny` replaces it. Only an operator credential opens
 * it, never a workload proof: `Authorization: Bearer <BRIDGE_ADMIN_TOKEN>` (a Workers secret),
 * compared in constant time. Without BRIDGE_ADMIN_TOKEN the route does not exist (404 like any other).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { denyListSchema, type DenyInput } from '../config/schema.ts';
import { DENY_LIST_MAX_BYTES } from '../constants.ts';
import { NO_STORE } from '../http.ts';
import { StoreUnavailableError } from '../store/ports.ts';
import { readCapped } from '../util/read-capped.ts';
import type { PlatformModule } from '../verify/contract.ts';

export const ADMIN_DENY_PATH = '/admin/deny';

export interface DenyListAdmin {
  input(): Promise<DenyInput>;
  replace(input: DenyInput): Promise<void>;
}

export interface DenyEndpointOptions {
  token: string;
  store: DenyListAdmin;
  platforms: readonly PlatformModule[];
  /** One JSON line per call, without the credential (Workers Logs). */
  log?: (event: Record<string, unknown>) => void;
}

const encoder = new TextEncoder();

/**
 * Equal digests of equal length, compared without an early exit: the time taken does not depend on
 * where a guess first differs, nor on the secret's length (both sides are hashed first).
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = sha256(encoder.encode(a));
  const y = sha256(encoder.encode(b));
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}

export function createDenyEndpoint(opts: DenyEndpointOptions): (req: Request) => Promise<Response> {
  const schema = denyListSchema(opts.platforms);
  const log = opts.log ?? ((e) => console.log(JSON.stringify(e)));
  const answer = (status: number, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    Response.json(body, { status, headers: { ...NO_STORE, ...headers } });

  return async (req) => {
    const request_id = crypto.randomUUID();
    const event = {
      type: 'admin',
      time: new Date().toISOString(),
      request_id,
      route: ADMIN_DENY_PATH,
      method: req.method,
    };
    const presented = /^Bearer (\S+)$/.exec(req.headers.get('authorization') ?? '')?.[1];
    if (presented === undefined || !constantTimeEqual(presented, opts.token)) {
      log({ ...event, outcome: 'unauthorized' });
      return answer(
        401,
        { error: 'invalid_token', error_description: 'An operator credential is required.', request_id },
        { 'WWW-Authenticate': 'Bearer' },
      );
    }
    try {
      if (req.method === 'GET') {
        log({ ...event, outcome: 'read' });
        return answer(200, { deny: await opts.store.input(), request_id });
      }
      if (req.method !== 'PUT')
        return answer(
          405,
          { error: 'invalid_request', error_description: 'Use GET or PUT.', request_id },
          { Allow: 'GET, PUT' },
        );
      const bytes = await readCapped(req.body, DENY_LIST_MAX_BYTES);
      const text = bytes === undefined ? undefined : new TextDecoder().decode(bytes);
      if (text === undefined)
        return answer(413, {
          error: 'invalid_request',
          error_description: `The deny list is over ${DENY_LIST_MAX_BYTES} bytes.`,
          request_id,
        });
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        return answer(400, {
          error: 'invalid_request',
          error_description: 'The body must be JSON: {"principals": {...}, "agents": [...], "n8nInstances": [...]}.',
          request_id,
        });
      }
      const parsed = schema.safeParse(raw);
      if (!parsed.success) {
        const problems = parsed.error.issues.map((i) => `deny.${i.path.map(String).join('.')}: ${i.message}`);
        return answer(400, { error: 'invalid_request', error_description: problems.join('; '), request_id });
      }
      await opts.store.replace(parsed.data);
      const d = parsed.data;
      log({
        ...event,
        outcome: 'replaced',
        counts: {
          principals: Object.values(d.principals ?? {}).reduce((n, l) => n + (l?.length ?? 0), 0),
          agents: d.agents?.length ?? 0,
          n8nInstances: d.n8nInstances?.length ?? 0,
        },
      });
      return answer(200, { deny: parsed.data, request_id });
    } catch (e) {
      if (!(e instanceof StoreUnavailableError)) throw e;
      log({ ...event, outcome: 'store_unavailable', detail: e.message });
      return answer(
        503,
        {
          error: 'temporarily_unavailable',
          error_description: 'The deny list store cannot be reached; retry.',
          request_id,
        },
        { 'Retry-After': String(e.retryAfterSec) },
      );
    }
  };
}
