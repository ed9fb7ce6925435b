/**
 * GitHub Actions' OIDC token service on loopback. A job with `permissions: id-token: write` gets two
 * environment variables, ACTIONS_ID_TOKEN_REQUEST_URL (already carrying `?api-version=2.0`) and
 * ACTIONS_ID_TOKEN_REQUEST_TOKEN; `core.getIDToken(audience)` of @actions/core
 * (node_modules/@actions/core/lib/oidc-utils.js) sends `GET <url>&audience=<aud>` with
 * `Authorization: Bearer <request token>` and reads `value` from the JSON answer
 * (https://docs.github.com/en/actions/concepts/security/openid-connect). The issuer's discovery
 * document and key set are served under the same origin, as token.actions.githubusercontent.com
 * serves them (`/.well-known/openid-configuration`, `/.well-known/jwks`).
 *
 * Each job has its own request token, bound to its own request URL and claim context (repository,
 * ref, environment...), so a test can act as a workflow of another repository or branch.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { exportJWK, generateKeyPair } from 'jose';
import { withOverrides } from '../gcp/id-token.ts';
import { signRs256 } from '../gcp/signing.ts';
import { defaultAudience, githubActionsClaims, type GithubJob } from './claims.ts';

export { defaultAudience, githubSubject, type GithubJob } from './claims.ts';

export interface GithubSigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JsonWebKey & { kid: string };
}

export interface EmulatedJob {
  readonly job: GithubJob;
  /** ACTIONS_ID_TOKEN_REQUEST_URL of this job. */
  readonly requestUrl: string;
  /** ACTIONS_ID_TOKEN_REQUEST_TOKEN of this job. */
  readonly requestToken: string;
}

export interface MintGithubTokenParams {
  job?: Partial<GithubJob>;
  /** Default: the repository owner's URL, as when the workflow names no audience. */
  audience?: string;
  /** Claim overrides; a claim set to `undefined` is removed. */
  claims?: Record<string, unknown>;
  /** Header overrides; the signature is RS256 whatever `alg` says. */
  header?: Record<string, unknown>;
  iat?: number;
}

export interface GithubActionsEmulator {
  /** http://127.0.0.1:<port>: the token service and the issuer's documents. */
  readonly url: string;
  /** `iss` of its tokens: `url` unless configured otherwise. */
  readonly issuer: string;
  readonly jwksUri: string;
  /** The default job (the sandbox workflow). */
  readonly job: EmulatedJob;
  /** Start another job (another repository, ref or environment) with its own request URL and token. */
  createJob(job?: Partial<GithubJob>): EmulatedJob;
  /** Mint a token as the service would for a job, without the HTTP round trip (negative vectors). */
  mintToken(p?: MintGithubTokenParams): Promise<string>;
  readonly signingKey: GithubSigningKey;
  /** `METHOD path` of every request served, oldest first (no query: it is the audience only). */
  readonly requests: readonly string[];
  rotateKey(): Promise<void>;
  close(): Promise<void>;
}

export interface GithubActionsEmulatorOptions {
  /** Default: the emulator's URL (GitHub: https://token.actions.githubusercontent.com; GHES: https://HOSTNAME/_services/token). */
  issuer?: string;
  /** The default job; fields not given take the sandbox workflow's values. */
  job?: Partial<GithubJob>;
  /** Seconds since the epoch. */
  clock?: () => number;
}

export const DEFAULT_GITHUB_JOB: GithubJob = {
  repository: 'agent-org/agent-repo',
  ref: 'refs/heads/main',
  eventName: 'push',
  workflowPath: '.github/workflows/agent.yml',
  sha: 'a3f1c9e27b4d8e605f1c2b3a4d5e6f708192a3b4',
  actor: 'agent-dev',
  actorId: '51234567',
  repositoryId: '812345678',
  repositoryOwnerId: '140123456',
  repositoryVisibility: 'private',
  refProtected: true,
  runId: '9876543210',
  runNumber: '42',
  runAttempt: '1',
  runnerEnvironment: 'github-hosted',
};

/** The discovery document's claim list (token.actions.githubusercontent.com/.well-known/openid-configuration). */
const CLAIMS_SUPPORTED = [
  'sub',
  'aud',
  'exp',
  'iat',
  'iss',
  'jti',
  'nbf',
  'ref',
  'sha',
  'repository',
  'repository_id',
  'repository_owner',
  'repository_owner_id',
  'run_id',
  'run_number',
  'run_attempt',
  'actor',
  'actor_id',
  'workflow',
  'workflow_ref',
  'workflow_sha',
  'head_ref',
  'base_ref',
  'event_name',
  'ref_type',
  'ref_protected',
  'environment',
  'job_workflow_ref',
  'job_workflow_sha',
  'repository_visibility',
  'runner_environment',
];
/** The runtime service's API version, part of the request URL the runner hands to the job. */
const API_VERSION = '2.0';

export async function generateGithubSigningKey(): Promise<GithubSigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
  // GitHub's key ids are UUID-shaped; its JWKS entries also carry x5c/x5t, which no verifier here uses.
  const kid = randomUUID();
  const { n, e } = await exportJWK(publicKey);
  return { kid, privateKey, publicJwk: { n, kty: 'RSA', kid, alg: 'RS256', e, use: 'sig' } };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export async function startGithubActionsEmulator(
  opts: GithubActionsEmulatorOptions = {},
  port = 0,
): Promise<GithubActionsEmulator> {
  const clock = opts.clock ?? (() => Math.floor(Date.now() / 1000));
  const keys: GithubSigningKey[] = [await generateGithubSigningKey()];
  let current = keys[0]!;
  const requests: string[] = [];
  const facts = { url: '', issuer: '' };
  /** Jobs by the path of their request URL. */
  const jobs = new Map<string, { job: GithubJob; tokenDigest: Buffer }>();
  const runtimeId = randomBytes(12).toString('base64url');

  const mintToken = async (p: MintGithubTokenParams = {}): Promise<string> => {
    const job = { ...DEFAULT_GITHUB_JOB, ...opts.job, ...p.job };
    const claims = githubActionsClaims(job, {
      issuer: facts.issuer,
      audience: p.audience ?? defaultAudience(job),
      iat: p.iat ?? clock(),
    });
    const header = withOverrides({ typ: 'JWT', alg: 'RS256', kid: current.kid }, p.header);
    return signRs256(header, withOverrides(claims, p.claims), current.privateKey);
  };

  const createJob = (partial: Partial<GithubJob> = {}): EmulatedJob => {
    const job: GithubJob = { ...DEFAULT_GITHUB_JOB, ...opts.job, ...partial };
    const path = `/${runtimeId}/00000000-0000-0000-0000-000000000000/_apis/distributedtask/hubs/Actions/plans/${randomUUID()}/jobs/${randomUUID()}/idtoken`;
    const requestToken = `emulated-actions-runtime-${randomBytes(32).toString('base64url')}`;
    jobs.set(path, { job, tokenDigest: digest(requestToken) });
    return { job, requestUrl: `${facts.url}${path}?api-version=${API_VERSION}`, requestToken };
  };

  const app = new Hono();
  app.use('*', async (c, next) => {
    requests.push(`${c.req.method} ${new URL(c.req.url).pathname}`);
    await next();
  });
  app.get('/.well-known/openid-configuration', (c) =>
    c.json({
      issuer: facts.issuer,
      jwks_uri: `${facts.url}/.well-known/jwks`,
      subject_types_supported: ['public', 'pairwise'],
      response_types_supported: ['id_token'],
      claims_supported: CLAIMS_SUPPORTED,
      id_token_signing_alg_values_supported: ['RS256'],
      scopes_supported: ['openid'],
    }),
  );
  app.get('/.well-known/jwks', (c) => c.json({ keys: keys.map((k) => k.publicJwk) }));
  app.get('*', async (c, next) => {
    const entry = jobs.get(new URL(c.req.url).pathname);
    if (!entry) return next();
    const match = /^bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '');
    // The request token is scoped to its job: another job's token is refused like a wrong one.
    if (!match || !timingSafeEqual(digest(match[1]!), entry.tokenDigest))
      return c.json({ message: 'The user is not authorized to access this resource.' }, 401);
    const audience = c.req.query('audience');
    return c.json({ value: await mintToken({ job: entry.job, ...(audience ? { audience } : {}) }) });
  });
  app.notFound((c) => c.json({ message: 'Not Found' }, 404));

  const { server, address } = await listen(app, port);
  facts.url = `http://127.0.0.1:${address.port}`;
  facts.issuer = opts.issuer ?? facts.url;
  const job = createJob();
  return {
    url: facts.url,
    issuer: facts.issuer,
    jwksUri: `${facts.url}/.well-known/jwks`,
    job,
    createJob,
    mintToken,
    get signingKey() {
      return current;
    },
    requests,
    async rotateKey() {
      current = await generateGithubSigningKey();
      keys.push(current);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function listen(app: Hono, port: number): Promise<{ server: Server; address: AddressInfo }> {
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, (address) =>
      resolve({ server, address }),
    ) as Server;
  });
}
