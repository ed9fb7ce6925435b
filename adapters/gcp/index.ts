/**
 * GCP adapter: Google-signed ID tokens from the metadata server (GCE, Cloud Run, GKE),
 * verified as a configuration of the shared JWT proof verifier (docs/architecture.md#code-layout).
 */
import { MAX_PROOF_TOKEN_AGE_SEC, TOKEN_TYPE } from '../../src/constants.ts';
import { keySetUrlProblem } from '../../src/net/loopback.ts';
import { definePlatform, type AdapterDeps, type WorkloadVerifier } from '../../src/verify/contract.ts';
import { createJwtProofVerifier, remoteJwks } from '../../src/verify/jwt.ts';
import { gcpWorkloadFromClaims, isGcpAttribute } from './claims.ts';
import { GCP_DEFAULT_JWKS_URL, GcpPlatformSchema, type GcpPlatformConfig } from './config.ts';

export { GCP_DEFAULT_JWKS_URL, type GcpPlatformConfig } from './config.ts';

export interface GcpConfig {
  /** Google's JWKS (default GCP_DEFAULT_JWKS_URL); configurable for the emulator. */
  jwksUrl: string;
}

/**
 * Both spellings Google documents for `iss`. google-auth-library also accepts its universe domain
 * (`googleapis.com`) by default; we do not (docs/platforms/gcp.md#what-the-bridge-checks-and-why).
 */
const GOOGLE_ISSUERS = ['https://accounts.google.com', 'accounts.google.com'] as const;
const GCP_TOKEN_TYPES = [TOKEN_TYPE.jwt, TOKEN_TYPE.idToken] as const;

export function createGcpVerifier(config: GcpConfig, deps: AdapterDeps): WorkloadVerifier {
  const keys = remoteJwks(config.jwksUrl, deps.fetch);
  return createJwtProofVerifier({
    platform: 'gcp',
    proofKind: 'gcp-id-token',
    tokenTypes: GCP_TOKEN_TYPES,
    issuers: GOOGLE_ISSUERS,
    // Google's issuers and algorithms are public: a refused token may be told which rule it broke.
    issuersArePublic: true,
    keysFor: () => keys,
    // Google signs ID tokens with RS256 only (https://cloud.google.com/compute/docs/instances/verifying-instance-identity).
    algorithms: ['RS256'],
    maxLifetimeSec: MAX_PROOF_TOKEN_AGE_SEC,
    requiredClaims: ['sub'],
    toWorkload: (payload) => gcpWorkloadFromClaims(payload),
  });
}

export const gcpPlatform = definePlatform({
  name: 'gcp',
  configSchema: GcpPlatformSchema,
  isAttribute: isGcpAttribute,
  proofTokenTypes: GCP_TOKEN_TYPES,
  problems: (config: GcpPlatformConfig, runtime) => {
    const problem =
      config.jwksUrl === undefined
        ? undefined
        : keySetUrlProblem(config.jwksUrl, 'policy.platforms.gcp.jwksUrl', runtime.allowInsecureLoopback);
    return problem === undefined ? [] : [problem];
  },
  createVerifiers: (config: GcpPlatformConfig, deps) => [
    createGcpVerifier({ jwksUrl: config.jwksUrl ?? GCP_DEFAULT_JWKS_URL }, deps),
  ],
  workloadFromUnverifiedClaims: (claims) =>
    typeof claims.iss === 'string' && (GOOGLE_ISSUERS as readonly string[]).includes(claims.iss)
      ? gcpWorkloadFromClaims(claims)
      : undefined,
});
