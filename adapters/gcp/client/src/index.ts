/**
 * @agent-id-bridge/gcp: the workload side for GCP (Cloud Run, GCE, GKE): get a Google ID token
 * for the bridge's audience from the metadata server (or any Application Default Credentials that
 * can mint ID tokens) through google-auth-library, exchange it at the bridge's /token, and cache
 * the agent token until shortly before it expires.
 *
 * @example
 * const source = createGcpAgentTokenSource({ bridgeUrl: 'https://bridge.example', audience: 'https://bridge.example', resource: 'https://graph.microsoft.com' });
 * const { accessToken } = await source.getToken();
 */
import { GoogleAuth, type IdTokenProvider } from 'google-auth-library';
import {
  BridgeExchangeError,
  createAgentTokenSource,
  TOKEN_TYPE,
  type AgentToken,
  type AgentTokenSource,
  type Proof,
} from '../../../client/src/index.ts';

export { BridgeExchangeError, type AgentToken, type AgentTokenSource, type Proof };

export interface GcpAgentTokenOptions {
  bridgeUrl: string;
  /** The bridge audience (its issuer URL unless configured otherwise). */
  audience: string;
  resource?: string;
  scope?: string;
  /** Agent identity client id; optional when the policy maps this workload to exactly one agent. */
  agent?: string;
  /** Agent-user mode: the agent's user account (UPN or object id). */
  agentUser?: string;
  fetch?: typeof fetch;
  /** Defaults to `new GoogleAuth()`: Application Default Credentials (the metadata server on GCP). */
  auth?: GoogleAuth;
}

/** `getToken({ userToken })` switches to OBO mode: the ID token then travels as the actor token. */
export type GcpAgentTokenSource = AgentTokenSource;

/** What a GCP proof needs: the options of `createGcpAgentTokenSource` that are about the proof. */
export type GcpProofOptions = Pick<GcpAgentTokenOptions, 'audience' | 'auth'>;

/**
 * A Google ID token for the bridge's audience on every call, as a proof, for a token source of your
 * own or for the sidecar (@agent-id-bridge/sidecar); `createGcpAgentTokenSource` builds on it.
 */
export function createGcpProof(opts: GcpProofOptions): () => Promise<Proof> {
  // Compute.fetchIdToken pastes the audience into the query string unencoded
  // (google-auth-library 11, computeclient.ts), so these characters would change the request.
  if (/[&#%+\s]/.test(opts.audience))
    throw new TypeError(
      'audience: must not contain "&", "#", "%", "+" or whitespace (google-auth-library sends it unencoded)',
    );
  const auth = opts.auth ?? new GoogleAuth();
  let provider: Promise<IdTokenProvider> | undefined;

  // On GCE, Cloud Run and GKE this is the metadata server's identity endpoint with format=full;
  // with a service-account key file it is a Google-signed token from the OAuth2 token endpoint.
  async function idToken(): Promise<string> {
    provider ??= auth.getIdTokenClient(opts.audience).then(
      (client) => client.idTokenProvider,
      (e: unknown) => {
        provider = undefined;
        throw e;
      },
    );
    return (await provider).fetchIdToken(opts.audience);
  }

  return async () => ({ token: await idToken(), tokenType: TOKEN_TYPE.idToken });
}

export function createGcpAgentTokenSource(opts: GcpAgentTokenOptions): GcpAgentTokenSource {
  return createAgentTokenSource({
    bridgeUrl: opts.bridgeUrl,
    proof: createGcpProof(opts),
    resource: opts.resource,
    scope: opts.scope,
    agent: opts.agent,
    agentUser: opts.agentUser,
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
}
