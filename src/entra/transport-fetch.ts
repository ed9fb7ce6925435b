/**
 * The Entra transport over plain `fetch` (through the bounded-fetch port). It sends the exact form
 * bodies of docs/entra.md (the flows) and is what runs where msal-node cannot (docs/workers.md#what-differs-from-node).
 */
import { ENTRA_MAX_RESPONSE_BYTES } from '../constants.ts';
import type { BoundedFetch } from '../net/bounded-fetch.ts';
import { parseEntraError, type EntraToken, type EntraTransport, type LegContext } from './types.ts';

const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface FetchTransportOptions {
  /** Where token requests go, e.g. https://login.microsoftonline.com (or the emulator). */
  endpoint: string;
  fetch: BoundedFetch;
  timeoutMs: number;
  clock?: () => number;
}

export function createFetchTransport(opts: FetchTransportOptions): EntraTransport {
  const clock = opts.clock ?? (() => Math.floor(Date.now() / 1000));

  async function post(ctx: LegContext, form: Record<string, string>): Promise<EntraToken> {
    const url = `${opts.endpoint}/${encodeURIComponent(ctx.tenantId)}/oauth2/v2.0/token`;
    const res = await opts.fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
        'client-request-id': ctx.correlationId,
      },
      body: new URLSearchParams(form).toString(),
      timeoutMs: opts.timeoutMs,
      maxBytes: ENTRA_MAX_RESPONSE_BYTES,
    });
    if (res.status !== 200) throw parseEntraError(res.status, res.headers, res.text);
    const body = JSON.parse(res.text) as {
      access_token?: unknown;
      expires_in?: unknown;
      scope?: unknown;
      correlation_id?: unknown;
    };
    if (typeof body.access_token !== 'string' || !Number.isFinite(Number(body.expires_in))) {
      throw parseEntraError(
        502,
        res.headers,
        JSON.stringify({
          error: 'invalid_response',
          error_description: 'token response without access_token/expires_in',
        }),
      );
    }
    return {
      accessToken: body.access_token,
      expiresAt: clock() + Number(body.expires_in),
      ...(typeof body.scope === 'string' ? { scope: body.scope } : {}),
      correlationId: res.headers.get('client-request-id') ?? ctx.correlationId,
    };
  }

  return {
    name: 'fetch',
    async blueprintExchangeToken(p) {
      return post(p, {
        client_id: p.blueprintId,
        scope: p.scope,
        fmi_path: p.agentId,
        grant_type: 'client_credentials',
        client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
        client_assertion: await p.clientAssertion(),
      });
    },
    async agentClientCredentials(p) {
      return post(p, {
        client_id: p.agentId,
        scope: p.scope,
        grant_type: 'client_credentials',
        client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
        client_assertion: p.t1,
      });
    },
    async onBehalfOf(p) {
      return post(p, {
        client_id: p.agentId,
        scope: p.scopes.join(' '),
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        requested_token_use: 'on_behalf_of',
        assertion: p.userAssertion,
        client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
        client_assertion: p.t1,
      });
    },
    async userFederatedCredential(p) {
      // Same body as msal-node's user_fic (no requested_token_use; docs/entra.md#open-questions).
      return post(p, {
        client_id: p.agentId,
        scope: p.scopes.join(' '),
        grant_type: 'user_fic',
        user_federated_identity_credential: p.t2,
        ...('upn' in p.user ? { username: p.user.upn } : { user_id: p.user.oid }),
        client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
        client_assertion: p.t1,
      });
    },
  };
}
