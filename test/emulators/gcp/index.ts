/**
 * GCP emulator on loopback: the GCE metadata server as gcp-metadata and google-auth-library use
 * it, plus Google's OAuth2 certificate endpoints. One process plays both hosts; the metadata
 * routes live under /computeMetadata (point GCE_METADATA_HOST at `metadataHost`), the certs
 * under /oauth2 (point the verifier's jwksUrl at `jwksUrl`).
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import {
  ID_TOKEN_LIFETIME_SEC,
  idTokenClaims,
  withOverrides,
  type GcpInstance,
  type GcpServiceAccount,
  type IdTokenFormat,
} from './id-token.ts';
import { generateGoogleSigningKey, signRs256, type GoogleSigningKey } from './signing.ts';

export type { GcpServiceAccount, IdTokenFormat } from './id-token.ts';
export { GOOGLE_ISSUER } from './id-token.ts';

export interface MintIdTokenParams {
  audience: string;
  format?: IdTokenFormat;
  /** Claim overrides; a claim set to `undefined` is removed. */
  claims?: Record<string, unknown>;
  /** Protected-header overrides; the signature is RS256 whatever `alg` says. */
  header?: Record<string, unknown>;
  iat?: number;
  exp?: number;
}

export interface GcpEmulator {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** '127.0.0.1:<port>' (value for GCE_METADATA_HOST). */
  readonly metadataHost: string;
  /** `${url}/oauth2/v3/certs` (Google-shaped JWKS). */
  readonly jwksUrl: string;
  readonly serviceAccount: GcpServiceAccount;
  /** Mint a Google-shaped ID token exactly as the metadata server would, with optional overrides for negative tests. */
  mintIdToken(p: MintIdTokenParams): Promise<string>;
  /** The key that currently signs, for building hostile vectors (e.g. HS256 signed with the public key bytes). */
  readonly signingKey: GoogleSigningKey;
  /** Number of JWKS (`/oauth2/v3/certs`) fetches served. */
  readonly jwksHits: number;
  /** `METHOD path?query` of every request served, oldest first. */
  readonly requests: readonly string[];
  /** Add a new signing key (served in the certs alongside the old ones) and sign with it from now on. */
  rotateKey(): Promise<void>;
  close(): Promise<void>;
}

export interface GcpEmulatorOptions {
  serviceAccount?: Partial<GcpServiceAccount>;
  /** Seconds since the epoch. */
  clock?: () => number;
}

const DEFAULT_SERVICE_ACCOUNT: GcpServiceAccount = {
  email: 'agent-workload@agent-id-bridge-demo.iam.gserviceaccount.com',
  uniqueId: '108234567890123456789',
  projectId: 'agent-id-bridge-demo',
  projectNumber: '123456789012',
};

/** Google serves its certs with a max-age of several hours; one hour is enough here. */
const CERTS_CACHE_CONTROL = 'public, max-age=3600, must-revalidate, no-transform';

export async function startGcpEmulator(opts: GcpEmulatorOptions = {}, port = 0): Promise<GcpEmulator> {
  const clock = opts.clock ?? (() => Math.floor(Date.now() / 1000));
  const serviceAccount: GcpServiceAccount = { ...DEFAULT_SERVICE_ACCOUNT, ...opts.serviceAccount };
  const instance: GcpInstance = {
    zone: 'us-central1-a',
    instanceId: '4567890123456789012',
    instanceName: 'agent-vm-1',
    creationTimestamp: clock() - 86_400,
  };
  const keys: GoogleSigningKey[] = [await generateGoogleSigningKey()];
  let current = keys[0]!;
  let jwksHits = 0;
  const requests: string[] = [];

  const mintIdToken = async (p: MintIdTokenParams & { licenses?: boolean }): Promise<string> => {
    const iat = p.iat ?? clock();
    const claims = idTokenClaims({
      serviceAccount,
      instance,
      audience: p.audience,
      format: p.format ?? 'standard',
      licenses: p.licenses === true,
      iat,
      exp: p.exp ?? iat + ID_TOKEN_LIFETIME_SEC,
    });
    const header = withOverrides({ alg: 'RS256', kid: current.kid, typ: 'JWT' }, p.header);
    return signRs256(header, withOverrides(claims, p.claims), current.privateKey);
  };

  const app = new Hono();
  app.use('*', async (c, next) => {
    const url = new URL(c.req.url);
    requests.push(`${c.req.method} ${url.pathname}${url.search}`);
    await next();
  });
  app.route('/computeMetadata/v1', metadataRoutes({ serviceAccount, instance, mintIdToken }));
  app.get('/oauth2/v3/certs', (c) => {
    jwksHits++;
    c.header('cache-control', CERTS_CACHE_CONTROL);
    return c.json({ keys: keys.map((k) => k.publicJwk) });
  });
  app.get('/oauth2/v1/certs', (c) => {
    c.header('cache-control', CERTS_CACHE_CONTROL);
    return c.json(Object.fromEntries(keys.map((k) => [k.kid, k.publicPem])));
  });
  app.notFound((c) => c.text('Not Found\n', 404));

  const { server, address } = await listen(app, port);
  const url = `http://127.0.0.1:${address.port}`;
  return {
    url,
    metadataHost: `127.0.0.1:${address.port}`,
    jwksUrl: `${url}/oauth2/v3/certs`,
    serviceAccount,
    mintIdToken,
    get signingKey() {
      return current;
    },
    get jwksHits() {
      return jwksHits;
    },
    requests,
    async rotateKey() {
      current = await generateGoogleSigningKey();
      keys.push(current);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

interface MetadataDeps {
  serviceAccount: GcpServiceAccount;
  instance: GcpInstance;
  mintIdToken(p: MintIdTokenParams & { licenses?: boolean }): Promise<string>;
}

/** The paths google-auth-library 11 / gcp-metadata 9 touch on GCE, Cloud Run and GKE, and a few neighbours. */
function metadataRoutes(d: MetadataDeps): Hono {
  const sa = d.serviceAccount;
  const m = new Hono();
  m.use('*', async (c, next) => {
    c.header('Metadata-Flavor', 'Google');
    c.header('Server', 'Metadata Server for VM');
    // The real server refuses proxied requests and requests without the flavor header (SSRF defence).
    if (c.req.header('x-forwarded-for') !== undefined)
      return c.text('Forbidden: X-Forwarded-For is not allowed\n', 403);
    if (c.req.header('metadata-flavor') !== 'Google')
      return c.text('Missing required header: "Metadata-Flavor: Google"\n', 403);
    await next();
  });
  const listing = (...entries: string[]) => entries.map((e) => `${e}\n`).join('');

  m.get('/', (c) => c.text(listing('instance/', 'project/', 'universe/')));
  // gcp-metadata's isAvailable() probes `instance` (no trailing slash) to detect GCE.
  m.get('/instance', (c) => c.text(listing('attributes/', 'hostname', 'id', 'name', 'service-accounts/', 'zone')));
  m.get('/instance/', (c) => c.text(listing('attributes/', 'hostname', 'id', 'name', 'service-accounts/', 'zone')));
  m.get('/instance/id', (c) => c.text(d.instance.instanceId));
  m.get('/instance/name', (c) => c.text(d.instance.instanceName));
  m.get('/instance/hostname', (c) =>
    c.text(`${d.instance.instanceName}.${d.instance.zone}.c.${sa.projectId}.internal`),
  );
  m.get('/instance/zone', (c) => c.text(`projects/${sa.projectNumber}/zones/${d.instance.zone}`));
  m.get('/instance/service-accounts', (c) => c.text(listing('default/', `${sa.email}/`)));
  m.get('/instance/service-accounts/', (c) => c.text(listing('default/', `${sa.email}/`)));
  m.get('/project/project-id', (c) => c.text(sa.projectId));
  m.get('/project/numeric-project-id', (c) => c.text(sa.projectNumber));
  m.get('/universe/universe-domain', (c) => c.text('googleapis.com'));

  const account = new Hono();
  account.get('/email', (c) => c.text(sa.email));
  account.get('/aliases', (c) => c.text('default\n'));
  account.get('/scopes', (c) => c.text(listing('https://www.googleapis.com/auth/cloud-platform')));
  account.get('/token', (c) =>
    c.json({
      access_token: `ya29.emulated-${randomBytes(24).toString('base64url')}`,
      expires_in: 3599,
      token_type: 'Bearer',
    }),
  );
  account.get('/identity', async (c) => {
    const audience = c.req.query('audience');
    if (!audience) return c.text('non-empty audience parameter required\n', 400);
    const format = c.req.query('format') ?? 'standard';
    if (format !== 'standard' && format !== 'full') return c.text(`invalid format "${format}"\n`, 400);
    // License codes come only with format=full (CONTRIBUTING.md#gcp-metadata).
    const licenses = format === 'full' && c.req.query('licenses')?.toUpperCase() === 'TRUE';
    return c.text(await d.mintIdToken({ audience, format, licenses }));
  });
  m.use('/instance/service-accounts/:account/*', async (c, next) => {
    const name = c.req.param('account');
    if (name !== 'default' && name !== sa.email) return c.text('Not Found\n', 404);
    await next();
  });
  m.route('/instance/service-accounts/:account', account);
  return m;
}

async function listen(app: Hono, port: number): Promise<{ server: Server; address: AddressInfo }> {
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, (address) =>
      resolve({ server, address }),
    ) as Server;
  });
}
