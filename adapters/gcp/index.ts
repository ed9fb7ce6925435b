/**
 * GCP adapter: Google-signed ID tokens from the metadata server (GCE, Cloud Run, GKE),
 * verified as a configuration of the shared JWT proof verifier (style.md §B.2 rule 1).
 */
import { MAX_PROOF_TOKEN_AGE_SEC, TOKEN_TYPE } from '../../src/constants.ts';
import type { AdapterDeps, WorkloadVerifier } from '../../src/verify/contract.ts';
import { createJwtProofVerifier, remoteJwks } from '../../src/verify/jwt.ts';
import { gcpWorkloadFromClaims } from './claims.ts';

export interface GcpConfig {
  /** Google's JWKS (default 'https://www.googleapis.com/oauth2/v3/certs'); configurable for the emulator. */
  jwksUrl: string;
}

export const GCP_DEFAULT_JWKS_URL = 'https://www.googleapis.com/oauth2/v3/certs';

/**
 * Both spellings Google documents for `iss`. google-auth-library also accepts its universe domain
 * (`googleapis.com`) by default; we do not (platform-proofs.md §0.5, packages.md §5).
 */
const GOOGLE_ISSUERS = ['https://accounts.google.com', 'accounts.google.com'] as const;

export function createGcpVerifier(config: GcpConfig, deps: AdapterDeps): WorkloadVerifier {
  const keys = remoteJwks(config.jwksUrl, deps.fetch);
  return createJwtProofVerifier({
    platform: 'gcp',
    proofKind: 'gcp-id-token',
    tokenTypes: [TOKEN_TYPE.jwt, TOKEN_TYPE.idToken],
    issuers: GOOGLE_ISSUERS,
    keysFor: () => keys,
    // Google signs ID tokens with RS256 only (platform-proofs.md §B.2).
    algorithms: ['RS256'],
    maxLifetimeSec: MAX_PROOF_TOKEN_AGE_SEC,
    requiredClaims: ['sub'],
    toWorkload: (payload) => gcpWorkloadFromClaims(payload),
  });
}
