/**
 * GitHub Actions OIDC tokens (https://docs.github.com/en/actions/reference/security/oidc). The
 * principal is GitHub's `sub` as GitHub forms it (by default `repo:<owner>/<repo>:ref:<ref>`, or
 * `…:environment:<name>`, `…:pull_request`; a repository or organization may customise it), and the
 * repository, ref, environment and workflow claims are attributes, so rules usually match on
 * `repository` (better: `repository_id`, which a re-created repository does not inherit) plus `ref` or
 * `environment`.
 */
import { keySetUrlProblem } from '../../../src/net/loopback.ts';
import { accept } from '../../../src/verify/contract.ts';
import { copyClaims, isRefusal, requiredString } from '../claims.ts';
import { DEFAULT_LIFETIME_SEC } from '../constants.ts';
import type { OidcProfile } from './profile.ts';

/** github.com's issuer; an enterprise with a customised issuer gets `<this>/<enterprise slug>`. */
export const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';

/** Claims that become attributes: what rules match on (names as GitHub spells them). */
export const GITHUB_ATTRIBUTES = [
  'repository',
  'repository_id',
  'repository_owner',
  'repository_owner_id',
  'repository_visibility',
  'ref',
  'ref_type',
  'environment',
  'workflow_ref',
  'job_workflow_ref',
  'event_name',
  'runner_environment',
  'enterprise',
  'enterprise_id',
] as const;

/** Claims kept for the audit log only: they name a run, not a workload a rule could trust. */
const AUDIT_CLAIMS = ['actor', 'actor_id', 'run_id', 'run_number', 'run_attempt', 'sha', 'workflow'] as const;

/**
 * github.com (optionally with an enterprise slug path) or a GitHub Enterprise Server's
 * `https://<host>/_services/token` (https://docs.github.com/en/enterprise-server@3.17/actions/reference/openid-connect-reference).
 */
const GITHUB_ISSUER_FORMS = [
  /^https:\/\/token\.actions\.githubusercontent\.com(\/[A-Za-z0-9_-]+)?$/,
  /^https:\/\/[A-Za-z0-9.-]+(:\d+)?\/_services\/token$/,
];

export const githubActionsProfile: OidcProfile = {
  proofKind: 'oidc-github-actions',
  attributes: GITHUB_ATTRIBUTES,
  defaultLifetimeSec: DEFAULT_LIFETIME_SEC['github-actions'],
  problems(entry, allowInsecureLoopback) {
    // The sandbox's emulator serves from a loopback URL of its own choosing.
    if (
      allowInsecureLoopback &&
      keySetUrlProblem(entry.issuer, 'issuer', true) === undefined &&
      !entry.issuer.startsWith('https:')
    )
      return [];
    if (GITHUB_ISSUER_FORMS.some((re) => re.test(entry.issuer))) return [];
    return [
      `issuer: GitHub Actions issuers are ${GITHUB_ISSUER}[/<enterprise>] or https://<GHES host>/_services/token`,
    ];
  },
  toWorkload(payload) {
    const sub = requiredString(payload, 'sub');
    if (isRefusal(sub)) return sub;
    // Every Actions token names its repository; a token without one is not a workflow's.
    const repository = requiredString(payload, 'repository');
    if (isRefusal(repository)) return repository;
    const attributes: Record<string, string> = {};
    const badAttribute = copyClaims(payload, GITHUB_ATTRIBUTES, attributes);
    if (badAttribute) return badAttribute;
    const auditContext: Record<string, string> = {};
    const badContext = copyClaims(payload, AUDIT_CLAIMS, auditContext, (n) => `github_${n}`);
    if (badContext) return badContext;
    return accept({ principal: sub, attributes, ...(Object.keys(auditContext).length > 0 ? { auditContext } : {}) });
  },
};
