/**
 * The contract between the core and the platform adapters (docs/architecture.md#code-layout).
 * Adapters import only these types; the core never imports an adapter except in the composition root.
 */
import type { DecodedJwt } from './jwt-decode.ts';
import type { z } from 'zod';
import type { ReasonCode } from '../errors.ts';
import type { BoundedFetch } from '../net/bounded-fetch.ts';
import type { CacheStats } from '../util/expiring-cache.ts';
import type { PlatformName } from '../platforms.ts';

/** A platform's name, derived from the one registry (src/platforms.ts): a new adapter is one line there. */
export type Platform = PlatformName;

export interface ProofInput {
  /** The proof exactly as received; opaque, never logged. */
  readonly token: string;
  /** The RFC 8693 token type URN that came with it. */
  readonly tokenType: string;
  /**
   * A JWT proof as routing decoded it (./jwt-decode.ts), so the verifier does not decode it again;
   * used only when its `token` is this proof's. Unverified, like everything routing reads.
   */
  readonly jwt?: DecodedJwt;
}

export interface VerifyContext {
  /** Current time in seconds since the epoch; injected so tests can pin it. */
  readonly now: number;
  /** What every proof must be bound to: the bridge's audience (defaults to its issuer URL). */
  readonly audience: string;
  /** The bridge's issuer URL (the n8n assertion audience is `<issuer>/token`). */
  readonly issuer: string;
  readonly signal?: AbortSignal;
}

/** The only description of a workload that policy and audit ever see. */
export interface VerifiedWorkload {
  readonly platform: Platform;
  /** e.g. 'gcp-id-token', 'aws-sigv4-gci', 'aws-web-identity-jwt', 'n8n-assertion'. */
  readonly proofKind: string;
  /** Who vouched for the workload (token issuer, STS). */
  readonly issuer: string;
  /** Platform-canonical principal that policy matches by default (GCP numeric id, role ARN, n8n workflow). */
  readonly principal: string;
  /**
   * Set when the principal is unique only within a scope, not across the platform (oidc: its issuer,
   * since two clusters may both have `system:serviceaccount:agents:planner`): per-principal limits then
   * count the principal within its scope, so one issuer's workloads never use up another's.
   */
  readonly principalScope?: string;
  /** Unix seconds after which the proof is no longer valid. */
  readonly expiresAt: number;
  /** jti or equivalent, for replay protection and audit. */
  readonly proofId?: string;
  /**
   * Present when the proof may be used once (n8n assertions): `/token` spends `proofId` in the replay
   * store after a rule matched, until `usableUntil` (unix seconds, expiry plus skew), counted against
   * `partition` (the issuer), whose quota keeps one issuer from crowding out the others.
   */
  readonly singleUse?: { readonly partition: string; readonly usableUntil: number };
  /** Allow-listed, normalised attributes policy may match on. */
  readonly attributes: Readonly<Record<string, string>>;
  /** Extra context kept for the audit log only (never matched by policy). */
  readonly auditContext?: Readonly<Record<string, string>>;
}

/**
 * Structured facts about a refusal, next to its free-text detail, so that audit and metrics never
 * parse strings: which claim or host was checked, what was expected and what was received. Values
 * must never be secrets (no token, no signature, no key material); they are capped when audited.
 */
export interface RefusalFields {
  readonly claim?: string;
  readonly host?: string;
  readonly expected?: string;
  readonly received?: string;
  readonly [name: string]: string | undefined;
}

/** The one refusal shape of every verifier, adapter check and store-independent step. */
export interface Refusal {
  readonly ok: false;
  readonly reason: ReasonCode;
  /** For the audit log and operators; may quote caller-sent values; never a token. */
  readonly detail: string;
  readonly fields?: RefusalFields;
  readonly retryAfterSec?: number;
  /**
   * Text the caller may read, appended to the generic description: only what the caller sent or what
   * is public (the bridge audience, accepted regions, the scope grammar); never policy contents.
   */
  readonly publicDetail?: string;
}

/** A value, or the reason it could not be had. */
export type Result<T> = { readonly ok: true; readonly value: T } | Refusal;

export interface RefuseOptions {
  fields?: RefusalFields;
  retryAfterSec?: number;
  publicDetail?: string;
}

export function refuse(reason: ReasonCode, detail: string, opts: RefuseOptions = {}): Refusal {
  return { ok: false, reason, detail, ...opts };
}

export function accept<T>(value: T): { readonly ok: true; readonly value: T } {
  return { ok: true, value };
}

/** What an adapter's claim mapping produces; the shared verifier adds platform, kind, issuer, expiry. */
export type WorkloadFields = Omit<VerifiedWorkload, 'platform' | 'proofKind' | 'issuer' | 'expiresAt' | 'singleUse'>;

export type VerifyResult = Result<VerifiedWorkload>;

export interface WorkloadVerifier {
  readonly platform: Platform;
  /** Token type URNs this verifier accepts. */
  readonly tokenTypes: readonly string[];
  /**
   * Exact issuers this verifier trusts, for the startup check that no two verifiers claim the same
   * proof. Absent for proofs routed by token type alone (AWS signed requests): then the verifier
   * claims every proof of its token types.
   */
  readonly issuers?: readonly string[];
  /**
   * Each proof is accepted once: its workload carries `proofId` and `singleUse`, the exchange spends
   * it after a rule matched, and the core never answers it from a cache of verified proofs.
   */
  readonly singleUse?: boolean;
  /**
   * Cheap routing check on UNVERIFIED data (for JWTs: the `iss` claim). Never a trust decision.
   * Verifiers of non-JWT proofs route by token type alone and may return true.
   */
  accepts(input: ProofInput, unverifiedIssuer: string | undefined): boolean;
  /**
   * For proofs one signature can be spelled in many ways (AWS: a serialized request): a pure, cheap
   * identity under which the core caches the verified proof, so the spellings share one entry. A
   * refusal here is the one `verify` would give. Without it the core keys by the digest of the exact
   * token (src/verify/proof-key.ts).
   */
  canonicalKey?(input: ProofInput): Result<string>;
  /**
   * The credential the proof says signed it, read WITHOUT verifying (AWS: the access key id of a
   * signed request's Credential). Only counted, by the admission guard (src/limits/admission.ts), so
   * one credential cannot drive verifications without bound; never a trust decision.
   */
  signingKeyId?(input: ProofInput): string | undefined;
  /**
   * Verifying a proof costs an upstream round trip per proof (AWS kind 1: the call to STS), not a
   * local signature check: with Node replicas on Redis, a proof one replica verified is recalled by
   * the others rather than verified again (docs/redis.md#the-shared-verified-proof-cache). Never
   * together with `singleUse`.
   */
  readonly verifiedRemotely?: boolean;
  verify(input: ProofInput, ctx: VerifyContext): Promise<VerifyResult>;
}

/** Ports an adapter may need; built once by the composition root. */
export interface AdapterDeps {
  readonly fetch: BoundedFetch;
  /** Seconds since the epoch. */
  readonly clock: () => number;
  /** Lets an adapter's cache be read by the metrics (src/metrics/port.ts); the name is a fixed word. */
  readonly registerCache?: (name: string, stats: () => CacheStats) => void;
}

/** What the composition root tells an adapter about the deployment. */
export interface PlatformRuntime {
  /** http:// to loopback hosts is allowed (sandbox and tests only): the emulator settings need it. */
  readonly allowInsecureLoopback: boolean;
}

/**
 * The one shape every adapter exports (adapters/<name>/index.ts): its `platforms.<name>` section of the
 * policy file, the proof token types it accepts, and how a validated section becomes verifiers. The
 * registry (src/platforms.ts) derives the policy schema, the rule's platform enum and the accepted
 * token types from these.
 */
export interface PlatformModule<N extends string = string, C = any> {
  readonly name: N;
  /** Validates `platforms.<name>`; the section being present enables the platform. */
  readonly configSchema: z.ZodType<C>;
  /** RFC 8693 token type URNs of this platform's proofs (subject_token_type / actor_token_type). */
  readonly proofTokenTypes: readonly string[];
  /**
   * Problems of a schema-valid section that depend on the deployment (e.g. a sandbox-only setting in
   * production), each naming its option path; reported with every other configuration problem.
   */
  problems?(config: C, runtime: PlatformRuntime): string[];
  /**
   * The attribute names this platform's workloads carry: a policy rule may match only these, so a
   * name that could never match (or one such as `constructor`) is refused at load.
   * Given the platform's section and the rule, for platforms whose attributes depend on configuration
   * (oidc: the claims each configured issuer maps); the others ignore both.
   */
  isAttribute(name: string, config: C, rule: PolicyRuleView): boolean;
  /**
   * Problems of a rule naming this platform that depend on its section (oidc: a rule must name exactly
   * one configured issuer, so that two issuers never match each other's rules); refused at load.
   */
  ruleProblems?(rule: PolicyRuleView, config: C): RuleProblem[];
  createVerifiers(config: C, deps: AdapterDeps, runtime: PlatformRuntime): WorkloadVerifier[];
  /**
   * Offline only (`agent-id-bridge policy explain`, docs/operations.md#operator-cli): the workload a
   * JWT proof's claims would become if its signature were valid, or undefined when the claims are
   * not this platform's. Never used to serve a request: nothing here is verified.
   */
  workloadFromUnverifiedClaims?(
    claims: Readonly<Record<string, unknown>>,
    config: C,
  ): (Result<WorkloadFields> & { issuer?: string }) | undefined;
}

/** What an adapter sees of a policy rule naming its platform, for the checks made at load. */
export interface PolicyRuleView {
  readonly name: string;
  /** The rule's optional `issuer` matcher: a plain string matches exactly. */
  readonly issuer?: string | { readonly glob: string } | { readonly regex: string } | undefined;
}

/** A problem of one policy rule, reported under `policy.rules[i].<field>`. */
export interface RuleProblem {
  readonly field: string;
  readonly message: string;
}

/** Identity with a type: lets an adapter's module be checked against the contract where it is written. */
export function definePlatform<const N extends string, C>(module: PlatformModule<N, C>): PlatformModule<N, C> {
  return module;
}
