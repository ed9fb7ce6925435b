/**
 * The claims of a GitHub Actions OIDC token, as GitHub's OIDC reference lists them
 * (https://docs.github.com/en/actions/reference/security/oidc): every custom claim a JSON string
 * (ids and `ref_protected` included), `aud` one string (the repository owner's URL unless the
 * workflow asked for another), and `sub` from the default subject template: the environment if the
 * job has one, `pull_request` for pull request events, the ref otherwise.
 */
import { randomUUID } from 'node:crypto';

export interface GithubJob {
  /** `owner/repo`. */
  repository: string;
  /** `refs/heads/<branch>` or `refs/tags/<tag>`. */
  ref: string;
  environment?: string;
  eventName: string;
  /** Path of the workflow file in the repository. */
  workflowPath: string;
  /** The called workflow of a reusable-workflow job (`owner/repo/path@ref`); default: the caller itself. */
  jobWorkflowRef?: string;
  sha: string;
  actor: string;
  actorId: string;
  repositoryId: string;
  repositoryOwnerId: string;
  repositoryVisibility: 'public' | 'private' | 'internal';
  refProtected: boolean;
  runId: string;
  runNumber: string;
  runAttempt: string;
  runnerEnvironment: 'github-hosted' | 'self-hosted';
}

/** A token lives five minutes after `iat`; `nbf` lies ten minutes before it, as in GitHub's example token (see above). */
export const TOKEN_LIFETIME_SEC = 300;
export const NOT_BEFORE_SKEW_SEC = 600;

export function repositoryOwner(repository: string): string {
  return repository.split('/')[0]!;
}

/** The default `sub` (https://docs.github.com/en/actions/reference/security/oidc#example-subject-claims). */
export function githubSubject(job: Pick<GithubJob, 'repository' | 'ref' | 'environment' | 'eventName'>): string {
  if (job.environment) return `repo:${job.repository}:environment:${job.environment}`;
  if (job.eventName === 'pull_request') return `repo:${job.repository}:pull_request`;
  return `repo:${job.repository}:ref:${job.ref}`;
}

/** What `aud` is when the workflow asks for no audience. */
export function defaultAudience(job: Pick<GithubJob, 'repository'>): string {
  return `https://github.com/${repositoryOwner(job.repository)}`;
}

export function githubActionsClaims(
  job: GithubJob,
  p: { issuer: string; audience: string; iat: number },
): Record<string, unknown> {
  const workflowRef = `${job.repository}/${job.workflowPath}@${job.ref}`;
  const claims: Record<string, unknown> = { jti: randomUUID(), sub: githubSubject(job) };
  if (job.environment) claims.environment = job.environment;
  Object.assign(claims, {
    aud: p.audience,
    ref: job.ref,
    sha: job.sha,
    repository: job.repository,
    repository_owner: repositoryOwner(job.repository),
    repository_owner_id: job.repositoryOwnerId,
    run_id: job.runId,
    run_number: job.runNumber,
    run_attempt: job.runAttempt,
    repository_visibility: job.repositoryVisibility,
    repository_id: job.repositoryId,
    actor_id: job.actorId,
    actor: job.actor,
    workflow: job.workflowPath
      .split('/')
      .pop()!
      .replace(/\.ya?ml$/, ''),
    head_ref: '',
    base_ref: '',
    event_name: job.eventName,
    ref_protected: String(job.refProtected),
    ref_type: job.ref.startsWith('refs/tags/') ? 'tag' : 'branch',
    workflow_ref: workflowRef,
    workflow_sha: job.sha,
    job_workflow_ref: job.jobWorkflowRef ?? workflowRef,
    job_workflow_sha: job.sha,
    runner_environment: job.runnerEnvironment,
    iss: p.issuer,
    nbf: p.iat - NOT_BEFORE_SKEW_SEC,
    exp: p.iat + TOKEN_LIFETIME_SEC,
    iat: p.iat,
  });
  return claims;
}
