/**
 * oidc adapter: workload tokens of any configured OpenID Connect issuer (Kubernetes service
 * accounts, GitHub Actions, SPIFFE JWT-SVIDs, others), each issuer a configuration of the shared JWT
 * proof verifier with its own keys, algorithms, audience and lifetimes (docs/platforms/oidc.md).
 *
 * Two issuers never speak for each other: a rule naming this platform must name exactly one
 * configured issuer (`ruleProblems`), and the policy matches it against the verified `iss`, so the same
 * `sub` from another issuer never matches that rule.
 */
import { TOKEN_TYPE } from '../../src/constants.ts';
import { keySetUrlProblem } from '../../src/net/loopback.ts';
import {
  definePlatform,
  type AdapterDeps,
  type PlatformRuntime,
  type PolicyRuleView,
  type RuleProblem,
  type WorkloadVerifier,
} from '../../src/verify/contract.ts';
import { createJwtProofVerifier } from '../../src/verify/jwt.ts';
import { copyClaims } from './claims.ts';
import { OidcPlatformSchema, type OidcIssuerConfig, type OidcPlatformConfig } from './config.ts';
import { DEFAULT_ALGORITHMS } from './constants.ts';
import { issuerKeys } from './keys.ts';
import { profileOf } from './profiles/index.ts';

export type { OidcIssuerConfig, OidcPlatformConfig } from './config.ts';
export { discoveryUrl } from './keys.ts';
export { GITHUB_ISSUER } from './profiles/github-actions.ts';
export { serviceAccountPrincipal } from './profiles/kubernetes.ts';

/** Workload JWTs come as RFC 8693 `jwt` (Kubernetes, SPIFFE) or `id_token` (GitHub's are OIDC ID tokens). */
const OIDC_TOKEN_TYPES = [TOKEN_TYPE.jwt, TOKEN_TYPE.idToken] as const;

/** Adapter-internal knobs for tests; production never sets them. */
export interface OidcTuning {
  /** jose's refetch cooldown on an unknown kid (default src/constants.ts JWKS_COOLDOWN_MS). */
  jwksCooldownMs?: number;
}

/** Every attribute an entry's workloads may carry: its profile's, plus the claims it lists. */
export function attributesOf(entry: OidcIssuerConfig): ReadonlySet<string> {
  return new Set([...profileOf(entry.profile).attributes, ...(entry.attributes ?? [])]);
}

export function createOidcVerifier(
  entry: OidcIssuerConfig,
  deps: AdapterDeps,
  runtime: PlatformRuntime,
  tuning: OidcTuning = {},
): WorkloadVerifier {
  const profile = profileOf(entry.profile);
  const keys = issuerKeys(entry, {
    fetch: deps.fetch,
    clock: deps.clock,
    allowInsecureLoopback: runtime.allowInsecureLoopback,
    ...tuning,
  });
  const audience = entry.audience;
  const extra = entry.attributes ?? [];
  return createJwtProofVerifier({
    platform: 'oidc',
    proofKind: profile.proofKind,
    tokenTypes: OIDC_TOKEN_TYPES,
    issuers: [entry.issuer],
    keysFor: () => keys,
    // Two clusters may both have system:serviceaccount:agents:planner: its limits are counted per issuer.
    principalsPerIssuer: true,
    algorithms: entry.algorithms ?? DEFAULT_ALGORITHMS,
    ...(audience !== undefined ? { audience: () => audience } : {}),
    maxLifetimeSec: entry.maxLifetimeSec ?? profile.defaultLifetimeSec,
    maxTokenAgeSec: entry.maxTokenAgeSec ?? profile.defaultLifetimeSec,
    toWorkload(payload, header) {
      const mapped = profile.toWorkload(payload, header, entry);
      if (!mapped.ok || extra.length === 0) return mapped;
      const attributes = { ...mapped.value.attributes };
      const refused = copyClaims(payload, extra, attributes);
      return refused ?? { ok: true, value: { ...mapped.value, attributes } };
    },
  });
}

/** Problems of a schema-valid section that depend on the deployment or on the profile, each naming its option. */
function sectionProblems(config: OidcPlatformConfig, runtime: PlatformRuntime): string[] {
  return config.issuers.flatMap((entry, i) => {
    const at = `policy.platforms.oidc.issuers[${i}]`;
    const found: string[] = [];
    const issuerProblem = keySetUrlProblem(entry.issuer, `${at}.issuer`, runtime.allowInsecureLoopback);
    if (issuerProblem) found.push(issuerProblem);
    const uriProblem =
      entry.jwksUri === undefined
        ? undefined
        : keySetUrlProblem(entry.jwksUri, `${at}.jwksUri`, runtime.allowInsecureLoopback);
    if (uriProblem) found.push(uriProblem);
    const profile = profileOf(entry.profile);
    for (const p of profile.problems?.(entry, runtime.allowInsecureLoopback) ?? []) found.push(`${at}.${p}`);
    for (const name of entry.attributes ?? [])
      if (profile.attributes.includes(name))
        found.push(`${at}.attributes: "${name}" is already an attribute of the ${entry.profile} profile`);
    return found;
  });
}

/** The entry a rule names by its `issuer`, if it names exactly one configured issuer. */
function entryOf(rule: PolicyRuleView, config: OidcPlatformConfig): OidcIssuerConfig | undefined {
  return typeof rule.issuer === 'string' ? config.issuers.find((e) => e.issuer === rule.issuer) : undefined;
}

function ruleProblems(rule: PolicyRuleView, config: OidcPlatformConfig): RuleProblem[] {
  if (typeof rule.issuer !== 'string')
    return [
      {
        field: 'issuer',
        message:
          'an oidc rule must name one configured issuer exactly (a plain string, no glob or regex), so that no other issuer can match it',
      },
    ];
  if (entryOf(rule, config) === undefined)
    return [{ field: 'issuer', message: `"${rule.issuer}" is not an issuer listed under platforms.oidc.issuers` }];
  return [];
}

export const oidcPlatform = definePlatform({
  name: 'oidc',
  configSchema: OidcPlatformSchema,
  proofTokenTypes: OIDC_TOKEN_TYPES,
  // The attributes of the issuer the rule names (ruleProblems refuses a rule that names none).
  isAttribute: (name: string, config: OidcPlatformConfig, rule: PolicyRuleView) => {
    const entry = entryOf(rule, config);
    return entry !== undefined && attributesOf(entry).has(name);
  },
  ruleProblems,
  problems: sectionProblems,
  createVerifiers: (config: OidcPlatformConfig, deps, runtime) =>
    config.issuers.map((entry) => createOidcVerifier(entry, deps, runtime)),
});
