/**
 * The GitHub Actions OIDC token service emulator against @actions/core's `getIDToken` unchanged
 * (node_modules/@actions/core/lib/oidc-utils.js): the two environment variables a job with
 * `id-token: write` gets, the token it returns, and the issuer documents a verifier reads. Claim
 * checks cite https://docs.github.com/en/actions/reference/security/oidc.
 */
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { getIDTokenQuietly as getIDToken } from '../../support/actions-core.ts';
import { startGithubActionsEmulator, type EmulatedJob, type GithubActionsEmulator } from '../github-actions/index.ts';

const ENV_KEYS = ['ACTIONS_ID_TOKEN_REQUEST_URL', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN'] as const;
const saved: Record<string, string | undefined> = {};
let gh: GithubActionsEmulator;

function actAs(job: Pick<EmulatedJob, 'requestUrl' | 'requestToken'>): void {
  process.env.ACTIONS_ID_TOKEN_REQUEST_URL = job.requestUrl;
  process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = job.requestToken;
}

async function verify(token: string) {
  const jwks = (await (await fetch(gh.jwksUri)).json()) as { keys: JsonWebKey[] };
  return jwtVerify(token, createLocalJWKSet(jwks as never), { algorithms: ['RS256'], issuer: gh.issuer });
}

beforeAll(async () => {
  for (const k of ENV_KEYS) saved[k] = process.env[k];
  gh = await startGithubActionsEmulator();
});
afterEach(() => {
  for (const k of ENV_KEYS)
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
});
afterAll(async () => {
  await gh?.close();
});

describe('GitHub Actions OIDC token service emulator (issue 11 item 3)', () => {
  it('serves the discovery document and key set under its issuer URL', async () => {
    const discovery = (await (await fetch(`${gh.url}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(discovery).toMatchObject({
      issuer: gh.issuer,
      jwks_uri: `${gh.url}/.well-known/jwks`,
      id_token_signing_alg_values_supported: ['RS256'],
    });
    expect(discovery.claims_supported).toEqual(
      expect.arrayContaining(['repository', 'ref', 'environment', 'job_workflow_ref', 'event_name']),
    );
    const { keys } = (await (await fetch(gh.jwksUri)).json()) as { keys: Record<string, string>[] };
    expect(keys).toEqual([expect.objectContaining({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: gh.signingKey.kid })]);
  });

  it("issue 11 item 3: @actions/core getIDToken(audience) works against it unchanged, with GitHub's claims", async () => {
    actAs(gh.job);
    expect(gh.job.requestUrl).toContain('?api-version=2.0');
    const token = await getIDToken('https://bridge.example');
    const { payload } = await verify(token);
    const { job } = gh.job;
    expect(payload).toMatchObject({
      aud: 'https://bridge.example',
      iss: gh.issuer,
      sub: `repo:${job.repository}:ref:${job.ref}`,
      repository: job.repository,
      repository_owner: job.repository.split('/')[0],
      ref: job.ref,
      ref_type: 'branch',
      event_name: 'push',
      workflow_ref: `${job.repository}/${job.workflowPath}@${job.ref}`,
      job_workflow_ref: `${job.repository}/${job.workflowPath}@${job.ref}`,
      repository_id: job.repositoryId,
      ref_protected: 'true',
    });
    expect(payload).not.toHaveProperty('environment');
    expect(payload.nbf!).toBeLessThanOrEqual(payload.iat!);
    expect(payload.exp!).toBeGreaterThan(payload.iat!);
    expect(decodeProtectedHeader(token)).toEqual({ typ: 'JWT', alg: 'RS256', kid: gh.signingKey.kid });
    expect(gh.requests.filter((r) => r.endsWith('/idtoken'))).not.toHaveLength(0);
  });

  it('without an audience the token is for the repository owner; a job with an environment gets the environment subject', async () => {
    const deploy = gh.createJob({ environment: 'production' });
    actAs(deploy);
    const { payload } = await verify(await getIDToken());
    expect(payload.aud).toBe(`https://github.com/${deploy.job.repository.split('/')[0]}`);
    expect(payload).toMatchObject({
      sub: `repo:${deploy.job.repository}:environment:production`,
      environment: 'production',
    });
    const pr = gh.createJob({ eventName: 'pull_request', ref: 'refs/pull/7/merge' });
    actAs(pr);
    expect((await verify(await getIDToken('a'))).payload.sub).toBe(`repo:${pr.job.repository}:pull_request`);
  });

  it("issue 11 item 3: a wrong request token, or another job's, is refused with 401 and no token", async () => {
    const other = gh.createJob({ repository: 'someone-else/their-repo' });
    actAs({ requestUrl: gh.job.requestUrl, requestToken: other.requestToken });
    await expect(getIDToken('https://bridge.example')).rejects.toThrow(/401/);
    const res = await fetch(`${gh.job.requestUrl}&audience=x`, { headers: { authorization: 'Bearer nope' } });
    expect(res.status).toBe(401);
    expect(await res.text()).not.toContain('.ey');
  });
});
