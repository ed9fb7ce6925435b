/**
 * n8n adapter: assertions signed by a registered n8n instance key (the "Entra Agent Token" community
 * node, or any client following docs/platforms/n8n.md#assertion-format), verified as a configuration of the shared
 * JWT proof verifier (docs/architecture.md#code-layout) with every jti accepted once through the replay port.
 */
import { CLOCK_SKEW_SEC, TOKEN_TYPE } from '../../src/constants.ts';
import { keySetUrlProblem } from '../../src/net/loopback.ts';
import { definePlatform, refuse, type AdapterDeps, type WorkloadVerifier } from '../../src/verify/contract.ts';
import { N8nPlatformSchema, type N8nPlatformConfig } from './config.ts';
import { createJwtProofVerifier } from '../../src/verify/jwt.ts';
import { isN8nAttribute, N8N_ISSUER_PREFIX, n8nIssuer, n8nWorkloadFromClaims } from './claims.ts';
import { instanceKeyResolver, N8N_ALGORITHMS } from './keys.ts';

export type N8nConfig = N8nPlatformConfig;
export { n8nIssuer, n8nSubject } from './claims.ts';
export { jwkThumbprint, N8N_ALGORITHMS } from './keys.ts';

/** Longest accepted `exp - iat` of an assertion (RFC 7523 §3 asks for a short lifetime; docs/platforms/n8n.md#why-the-format-is-what-it-is). */
export const N8N_MAX_ASSERTION_LIFETIME_SEC = 300;
const N8N_TOKEN_TYPES = [TOKEN_TYPE.jwt] as const;

export function createN8nVerifier(config: N8nConfig, deps: AdapterDeps): WorkloadVerifier {
  const byIssuer = new Map(
    Object.entries(config.instances).map(([instanceId, source]) => {
      const keys = instanceKeyResolver(
        `platforms.n8n.instances.${instanceId}`,
        source.jwksUrl !== undefined ? { jwksUrl: source.jwksUrl } : { keys: source.keys ?? [] },
        deps.fetch,
      );
      return [n8nIssuer(instanceId), { instanceId, keys }] as const;
    }),
  );
  return createJwtProofVerifier({
    platform: 'n8n',
    proofKind: 'n8n-assertion',
    tokenTypes: N8N_TOKEN_TYPES,
    issuers: [...byIssuer.keys()],
    keysFor: (iss) => byIssuer.get(iss)!.keys,
    algorithms: N8N_ALGORITHMS,
    typ: 'JWT',
    audience: (ctx) => `${ctx.issuer}/token`,
    maxLifetimeSec: N8N_MAX_ASSERTION_LIFETIME_SEC,
    // Checked before the jti is spent: a refused assertion never uses up its jti.
    clockSkewSec: config.clockSkewSec ?? CLOCK_SKEW_SEC,
    requiredClaims: ['sub', 'jti'],
    singleUse: true,
    toWorkload: (payload) => n8nWorkloadFromClaims(payload, (payload.iss as string).slice(N8N_ISSUER_PREFIX.length)),
  });
}

export const n8nPlatform = definePlatform({
  name: 'n8n',
  configSchema: N8nPlatformSchema,
  isAttribute: isN8nAttribute,
  proofTokenTypes: N8N_TOKEN_TYPES,
  problems: (config: N8nConfig, runtime) =>
    Object.entries(config.instances).flatMap(([id, instance]) => {
      const problem =
        instance.jwksUrl === undefined
          ? undefined
          : keySetUrlProblem(
              instance.jwksUrl,
              `policy.platforms.n8n.instances.${id}.jwksUrl`,
              runtime.allowInsecureLoopback,
            );
      return problem === undefined ? [] : [problem];
    }),
  createVerifiers: (config: N8nConfig, deps) => [createN8nVerifier(config, deps)],
  workloadFromUnverifiedClaims: (claims, config: N8nConfig) => {
    const iss = claims.iss;
    if (typeof iss !== 'string' || !iss.startsWith(N8N_ISSUER_PREFIX)) return undefined;
    const instanceId = iss.slice(N8N_ISSUER_PREFIX.length);
    if (!Object.hasOwn(config.instances, instanceId))
      return refuse(
        'proof_untrusted_issuer',
        `n8n instance ${instanceId} is not registered under platforms.n8n.instances`,
      );
    return n8nWorkloadFromClaims(claims, instanceId);
  },
});
