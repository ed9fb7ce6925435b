/** The shape of an oidc profile: how one kind of workload token becomes a workload (docs/platforms/oidc.md). */
import type { JWTHeaderParameters, JWTPayload } from 'jose';
import type { Result, WorkloadFields } from '../../../src/verify/contract.ts';
import type { OidcIssuerConfig } from '../config.ts';

export interface OidcProfile {
  /** `proofKind` of the workloads it produces (audit, /explain). */
  readonly proofKind: string;
  /** Every attribute name it may produce (before the entry's extra `attributes`). */
  readonly attributes: readonly string[];
  /** Default `maxLifetimeSec` and `maxTokenAgeSec`. */
  readonly defaultLifetimeSec: number;
  /** Problems of an entry using this profile, as "<field>: <message>" (e.g. an issuer GitHub never uses). */
  problems?(entry: OidcIssuerConfig, allowInsecureLoopback: boolean): string[];
  /** Principal, attributes and audit context from verified claims, or a refusal (usually proof_claim). */
  toWorkload(payload: JWTPayload, header: JWTHeaderParameters, entry: OidcIssuerConfig): Result<WorkloadFields>;
}
