/**
 * The Entra transport on Node: @azure/msal-node 7.x (fmiPath and user_fic since 5.3, docs/entra.md#msal-node).
 *
 * Why a fresh ConfidentialClientApplication per call: the agent-token service above owns caching,
 * single flight and retries for both transports alike, so MSAL's own cache and throttling state
 * must not second-guess it; and the leg-2 client assertion (T1) differs per call. A CCA costs
 * microseconds next to the network round trip it exists for, and calls happen only on cache misses.
 *
 * All HTTP goes through our networkClient: the bounded-fetch port (timeout, byte cap, https only),
 * sent to `endpoint` (Entra, or the local emulator), while the authority stays an https URL as MSAL
 * requires. The raw answer is captured so failures are classified from Entra's own status and
 * body, not from MSAL's error wrapping.
 */
import {
  ConfidentialClientApplication,
  LogLevel,
  type AuthenticationResult,
  type INetworkModule,
  type NetworkResponse,
} from '@azure/msal-node';
import { ENTRA_AUTHORITY_HOST, ENTRA_MAX_RESPONSE_BYTES } from '../constants.ts';
import { UpstreamError, type BoundedFetch } from '../net/bounded-fetch.ts';
import { EntraHttpError, parseEntraError, type EntraToken, type EntraTransport, type LegContext } from './types.ts';

export interface MsalTransportOptions {
  /** Authority host used in MSAL's configuration and token issuers (https). */
  authorityHost?: string;
  /** Where HTTP really goes (defaults to the authority host); the sandbox points it at the emulator. */
  endpoint: string;
  fetch: BoundedFetch;
  timeoutMs: number;
}

interface Capture {
  error?: EntraHttpError | UpstreamError;
}

export function createMsalTransport(opts: MsalTransportOptions): EntraTransport {
  const authorityHost =
    opts.authorityHost && opts.authorityHost.startsWith('https://') ? opts.authorityHost : ENTRA_AUTHORITY_HOST;

  function networkClient(capture: Capture): INetworkModule {
    const send = async <T>(
      method: 'GET' | 'POST',
      url: string,
      options?: { headers?: Record<string, string>; body?: string },
    ): Promise<NetworkResponse<T>> => {
      try {
        const res = await opts.fetch(url, {
          method,
          headers: options?.headers ?? {},
          ...(options?.body !== undefined ? { body: options.body } : {}),
          timeoutMs: opts.timeoutMs,
          maxBytes: ENTRA_MAX_RESPONSE_BYTES,
        });
        if (res.status !== 200) capture.error = parseEntraError(res.status, res.headers, res.text);
        let body: unknown = {};
        try {
          body = JSON.parse(res.text);
        } catch {
          body = {};
        }
        return { status: res.status, headers: Object.fromEntries(res.headers), body: body as T };
      } catch (e) {
        if (e instanceof UpstreamError) capture.error = e;
        throw e;
      }
    };
    return {
      sendGetRequestAsync: (url, options) => send('GET', url, options),
      sendPostRequestAsync: (url, options) => send('POST', url, options),
    };
  }

  function client(
    tenantId: string,
    clientId: string,
    clientAssertion: string | (() => Promise<string>),
    capture: Capture,
  ): ConfidentialClientApplication {
    const base = `${opts.endpoint}/${tenantId}`;
    return new ConfidentialClientApplication({
      auth: {
        clientId,
        authority: `${authorityHost}/${tenantId}`,
        clientAssertion: typeof clientAssertion === 'string' ? clientAssertion : async () => clientAssertion(),
        // Skips OIDC discovery: one POST per leg, to `endpoint`.
        authorityMetadata: JSON.stringify({
          token_endpoint: `${base}/oauth2/v2.0/token`,
          authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
          end_session_endpoint: `${base}/oauth2/v2.0/logout`,
          issuer: `${authorityHost}/${tenantId}/v2.0`,
          jwks_uri: `${base}/discovery/v2.0/keys`,
        }),
        knownAuthorities: [new URL(authorityHost).host],
      },
      system: {
        networkClient: networkClient(capture),
        disableInternalRetries: true,
        loggerOptions: { logLevel: LogLevel.Error, piiLoggingEnabled: false, loggerCallback: () => {} },
      },
    });
  }

  async function run(
    ctx: LegContext,
    capture: Capture,
    call: () => Promise<AuthenticationResult | null>,
  ): Promise<EntraToken> {
    let result: AuthenticationResult | null;
    try {
      result = await call();
    } catch (e) {
      // Prefer what Entra itself answered; MSAL wraps network failures in its own errors.
      if (capture.error) throw capture.error;
      throw new EntraHttpError({
        status: 0,
        error: 'client_error',
        summary: `msal-node: ${(e as { errorCode?: string }).errorCode ?? (e as Error).name}`,
      });
    }
    if (!result || !result.accessToken || !result.expiresOn) {
      throw new EntraHttpError({
        status: 502,
        error: 'invalid_response',
        summary: 'token response without access token or expiry',
      });
    }
    return {
      accessToken: result.accessToken,
      expiresAt: Math.floor(result.expiresOn.getTime() / 1000),
      scope: result.scopes.join(' '),
      correlationId: result.correlationId || ctx.correlationId,
    };
  }

  return {
    name: 'msal-node',
    async blueprintExchangeToken(p) {
      const capture: Capture = {};
      const cca = client(p.tenantId, p.blueprintId, p.clientAssertion, capture);
      return run(p, capture, () =>
        cca.acquireTokenByClientCredential({
          scopes: [p.scope],
          fmiPath: p.agentId,
          correlationId: p.correlationId,
          skipCache: true,
        }),
      );
    },
    async agentClientCredentials(p) {
      const capture: Capture = {};
      const cca = client(p.tenantId, p.agentId, p.t1, capture);
      return run(p, capture, () =>
        cca.acquireTokenByClientCredential({ scopes: [p.scope], correlationId: p.correlationId, skipCache: true }),
      );
    },
    async onBehalfOf(p) {
      const capture: Capture = {};
      const cca = client(p.tenantId, p.agentId, p.t1, capture);
      return run(p, capture, () =>
        cca.acquireTokenOnBehalfOf({
          oboAssertion: p.userAssertion,
          scopes: p.scopes,
          correlationId: p.correlationId,
          skipCache: true,
        }),
      );
    },
    async userFederatedCredential(p) {
      const capture: Capture = {};
      const cca = client(p.tenantId, p.agentId, p.t1, capture);
      return run(p, capture, () =>
        cca.acquireTokenByUserFederatedIdentityCredential({
          scopes: p.scopes,
          assertion: p.t2,
          ...('upn' in p.user ? { username: p.user.upn } : { userObjectId: p.user.oid }),
          correlationId: p.correlationId,
        }),
      );
    },
  };
}
