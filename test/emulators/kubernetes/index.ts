/**
 * A Kubernetes API server as a service account token issuer, on loopback: the OIDC discovery
 * document at `/.well-known/openid-configuration`, the key set at `/openid/v1/jwks`
 * (https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#service-account-issuer-discovery),
 * and the TokenRequest API that kubelet and `kubectl create token` use
 * (https://kubernetes.io/docs/reference/kubernetes-api/authentication-resources/token-request-v1/),
 * which requires a bearer token allowed to `create serviceaccounts/token`. The discovery endpoints
 * answer without credentials, as on clusters that bind `system:service-account-issuer-discovery`
 * to unauthenticated callers (what EKS, GKE and AKS publish for their issuers).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { exportJWK, generateKeyPair } from 'jose';
import { withOverrides } from '../gcp/id-token.ts';
import { b64url, signRs256 } from '../gcp/signing.ts';
import { legacySecretTokenClaims, serviceAccountTokenClaims, type BoundObject } from './claims.ts';
import { DEFAULT_NAMESPACE, DEFAULT_POD, DEFAULT_SERVICE_ACCOUNT, defaultCluster, type Cluster } from './cluster.ts';
import {
  badRequest,
  forbidden,
  noSuchResource,
  unauthorized,
  unsupportedMediaType,
  type KubernetesStatus,
} from './status.ts';
import { DEFAULT_EXPIRATION_SECONDS, planTokenRequest, TOKEN_REQUEST_API_VERSION } from './token-request.ts';

export { DEFAULT_NAMESPACE, DEFAULT_POD, DEFAULT_SERVICE_ACCOUNT, OTHER_NAMESPACE, type Cluster } from './cluster.ts';
export { serviceAccountSubject } from './claims.ts';

export interface KubernetesSigningKey {
  /** base64url(SHA-256(SPKI DER)) of the public key, the API server's key id. */
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JsonWebKey & { kid: string };
}

export interface MintServiceAccountTokenParams {
  namespace?: string;
  serviceAccount?: string;
  audiences: string[];
  expirationSeconds?: number;
  /** Bind to this pod of the service account's namespace (adds `kubernetes.io.pod` and `.node`). */
  pod?: string;
  /** Claim overrides; a claim set to `undefined` is removed. */
  claims?: Record<string, unknown>;
  /** Header overrides; the signature is RS256 whatever `alg` says. */
  header?: Record<string, unknown>;
  iat?: number;
}

export interface KubernetesEmulator {
  /** The API server, http://127.0.0.1:<port>. */
  readonly url: string;
  /** The service account issuer (`--service-account-issuer`): `url` unless configured otherwise. */
  readonly issuer: string;
  readonly jwksUri: string;
  /** A bearer token allowed to create service account tokens in every namespace. */
  readonly adminToken: string;
  /** A bearer token the API server knows but that may not create tokens (answers 403). */
  readonly viewerToken: string;
  readonly cluster: Cluster;
  /** Mint a token as the TokenRequest API would, without the HTTP round trip (tests and negative vectors). */
  mintToken(p: MintServiceAccountTokenParams): Promise<string>;
  /** A legacy Secret-based token (no `exp`, no `aud`), signed with the same key. */
  mintLegacySecretToken(p?: { namespace?: string; serviceAccount?: string }): Promise<string>;
  readonly signingKey: KubernetesSigningKey;
  /** `METHOD path` of every request served, oldest first. */
  readonly requests: readonly string[];
  /** Add a signing key (served beside the old ones) and sign with it from now on. */
  rotateKey(): Promise<void>;
  close(): Promise<void>;
}

export interface KubernetesEmulatorOptions {
  /** `--service-account-issuer`; default: the emulator's own URL, so discovery is found under it. */
  issuer?: string;
  /** `--api-audiences`: the audience of a TokenRequest without `spec.audiences`; default [issuer]. */
  apiAudiences?: string[];
  cluster?: Cluster;
  /** Seconds since the epoch. */
  clock?: () => number;
}

/** The API server's discovery handler answers with this cache lifetime. */
const DISCOVERY_CACHE_CONTROL = 'public, max-age=3600';
/** The user the viewer token authenticates as. */
const VIEWER_USER = 'system:serviceaccount:agents:viewer';

export async function generateKubernetesSigningKey(): Promise<KubernetesSigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', publicKey));
  const kid = b64url(createHash('sha256').update(spki).digest());
  const { n, e } = await exportJWK(publicKey);
  return { kid, privateKey, publicJwk: { use: 'sig', kty: 'RSA', kid, alg: 'RS256', n, e } };
}

export async function startKubernetesEmulator(
  opts: KubernetesEmulatorOptions = {},
  port = 0,
): Promise<KubernetesEmulator> {
  const clock = opts.clock ?? (() => Math.floor(Date.now() / 1000));
  const cluster = opts.cluster ?? defaultCluster();
  const adminToken = `emulated-admin-${randomBytes(24).toString('base64url')}`;
  const viewerToken = `emulated-viewer-${randomBytes(24).toString('base64url')}`;
  const keys: KubernetesSigningKey[] = [await generateKubernetesSigningKey()];
  let current = keys[0]!;
  const requests: string[] = [];
  const facts = { url: '', issuer: '', apiAudiences: [] as string[] };

  const sign = (claims: Record<string, unknown>, header?: Record<string, unknown>) =>
    signRs256(withOverrides({ alg: 'RS256', kid: current.kid }, header), claims, current.privateKey);

  const findAccount = (namespace = DEFAULT_NAMESPACE, name = DEFAULT_SERVICE_ACCOUNT) => {
    const sa = cluster.serviceAccounts.find((s) => s.namespace === namespace && s.name === name);
    if (!sa) throw new Error(`no service account ${namespace}/${name} in the emulated cluster`);
    return sa;
  };

  const mintToken = async (p: MintServiceAccountTokenParams): Promise<string> => {
    const serviceAccount = findAccount(p.namespace, p.serviceAccount);
    let bound: BoundObject | undefined;
    if (p.pod !== undefined) {
      const pod = cluster.pods.find((x) => x.namespace === serviceAccount.namespace && x.name === p.pod);
      if (!pod) throw new Error(`no pod ${serviceAccount.namespace}/${p.pod} in the emulated cluster`);
      const node = cluster.nodes.find((n) => n.name === pod.nodeName);
      bound = { kind: 'Pod', pod: { name: pod.name, uid: pod.uid }, ...(node ? { node } : {}) };
    }
    const claims = serviceAccountTokenClaims({
      issuer: facts.issuer,
      serviceAccount,
      audiences: p.audiences,
      iat: p.iat ?? clock(),
      expirationSeconds: p.expirationSeconds ?? DEFAULT_EXPIRATION_SECONDS,
      ...(bound ? { bound } : {}),
    });
    return sign(withOverrides(claims, p.claims), p.header);
  };

  const app = new Hono();
  app.use('*', async (c, next) => {
    requests.push(`${c.req.method} ${new URL(c.req.url).pathname}`);
    await next();
  });
  app.get('/.well-known/openid-configuration', (c) => {
    c.header('cache-control', DISCOVERY_CACHE_CONTROL);
    return c.json({
      issuer: facts.issuer,
      jwks_uri: `${facts.url}/openid/v1/jwks`,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
    });
  });
  app.get('/openid/v1/jwks', (c) => {
    c.header('cache-control', DISCOVERY_CACHE_CONTROL);
    c.header('content-type', 'application/jwk-set+json');
    return c.body(JSON.stringify({ keys: keys.map((k) => k.publicJwk) }));
  });
  app.post('/api/v1/namespaces/:namespace/serviceaccounts/:name/token', async (c) => {
    const ns = c.req.param('namespace');
    const name = c.req.param('name');
    const user = authenticate(c.req.header('authorization'), { adminToken, viewerToken });
    if (user === undefined) return statusResponse(c, unauthorized());
    if (user !== 'admin') return statusResponse(c, forbidden(VIEWER_USER, ns, name));
    const contentType = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (contentType !== 'application/json') return statusResponse(c, unsupportedMediaType(contentType));
    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch {
      return statusResponse(
        c,
        badRequest('the object provided is unrecognized (must be of type TokenRequest): invalid JSON'),
      );
    }
    const outcome = planTokenRequest(cluster, ns, name, body, facts.apiAudiences);
    if (!outcome.ok) return statusResponse(c, outcome.status);
    const { plan } = outcome;
    const iat = clock();
    const token = await sign(
      serviceAccountTokenClaims({
        issuer: facts.issuer,
        serviceAccount: plan.serviceAccount,
        audiences: plan.audiences,
        iat,
        expirationSeconds: plan.expirationSeconds,
        ...(plan.bound ? { bound: plan.bound } : {}),
      }),
    );
    // A TokenRequest is never stored: no uid, no resourceVersion, creationTimestamp null.
    return c.json(
      {
        kind: 'TokenRequest',
        apiVersion: TOKEN_REQUEST_API_VERSION,
        metadata: { name, namespace: ns, creationTimestamp: null },
        spec: plan.spec,
        status: { token, expirationTimestamp: rfc3339(iat + plan.expirationSeconds) },
      },
      201,
    );
  });
  app.notFound((c) => statusResponse(c, noSuchResource()));

  const { server, address } = await listen(app, port);
  facts.url = `http://127.0.0.1:${address.port}`;
  facts.issuer = opts.issuer ?? facts.url;
  facts.apiAudiences = opts.apiAudiences ?? [facts.issuer];
  return {
    url: facts.url,
    issuer: facts.issuer,
    jwksUri: `${facts.url}/openid/v1/jwks`,
    adminToken,
    viewerToken,
    cluster,
    mintToken,
    mintLegacySecretToken: async (p = {}) =>
      sign(
        legacySecretTokenClaims(
          findAccount(p.namespace, p.serviceAccount),
          `${p.serviceAccount ?? DEFAULT_SERVICE_ACCOUNT}-token-x7k2p`,
        ),
      ),
    get signingKey() {
      return current;
    },
    requests,
    async rotateKey() {
      current = await generateKubernetesSigningKey();
      keys.push(current);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** Which known bearer token the request carries, compared in constant time; the scheme is case-insensitive. */
function authenticate(
  header: string | undefined,
  known: { adminToken: string; viewerToken: string },
): 'admin' | 'viewer' | undefined {
  const match = /^bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!match) return undefined;
  const presented = createHash('sha256').update(match[1]!).digest();
  const is = (secret: string) => timingSafeEqual(presented, createHash('sha256').update(secret).digest());
  if (is(known.adminToken)) return 'admin';
  if (is(known.viewerToken)) return 'viewer';
  return undefined;
}

function statusResponse(c: Context, status: KubernetesStatus): Response {
  return c.json(status, status.code as 400);
}

/** RFC 3339 with seconds, as the API server writes metav1.Time. */
function rfc3339(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

async function listen(app: Hono, port: number): Promise<{ server: Server; address: AddressInfo }> {
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, (address) =>
      resolve({ server, address }),
    ) as Server;
  });
}
