/**
 * Exchange dependencies for tests of what happens up to and including verification: the per-principal
 * limiter refuses every request, so the policy and Entra are never reached (their ports are empty).
 */
import { AdmissionGuard } from '../../src/limits/admission.ts';
import type { AgentTokenService } from '../../src/entra/client.ts';
import type { CompiledPolicy } from '../../src/policy/policy.ts';
import { MemoryReplayStore } from '../../src/store/memory.ts';
import type { SharedVerifiedProofs } from '../../src/store/ports.ts';
import type { ExchangeDeps } from '../../src/token/exchange.ts';
import type { WorkloadVerifier } from '../../src/verify/contract.ts';
import { VerifiedProofCache } from '../../src/verify/verified-cache.ts';

export const BRIDGE_URL = 'https://bridge.example.test';

export function verificationOnlyDeps(
  verifier: WorkloadVerifier,
  opts: { now: () => number; sharedProofs?: SharedVerifiedProofs },
): ExchangeDeps {
  return {
    issuer: BRIDGE_URL,
    audience: BRIDGE_URL,
    verifiers: [verifier],
    rateLimiter: { hit: async () => ({ allowed: false, retryAfterSec: 1 }) },
    policy: {} as CompiledPolicy,
    agentTokens: {} as AgentTokenService,
    replay: new MemoryReplayStore(opts.now),
    clock: opts.now,
    verifiedProofs: new VerifiedProofCache(),
    ...(opts.sharedProofs ? { sharedProofs: opts.sharedProofs } : {}),
    admission: new AdmissionGuard(
      {
        clientPerMinute: 1000,
        credentialPerMinute: 1000,
        issuerPerMinute: 1000,
        maxConcurrentVerifications: 10,
        maxKeys: 100,
      },
      opts.now,
    ),
  };
}
