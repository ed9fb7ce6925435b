/**
 * One sandbox module per platform (sandbox/platforms/<name>.ts): it starts that platform's
 * emulators on loopback and contributes its `platforms.<name>` section, its rules and its
 * `/_sandbox` manifest section. sandbox.ts composes them.
 */
import type { Env } from '../../src/config/config.ts';

export interface SandboxPlatformContext {
  /** The bridge's issuer URL (http://127.0.0.1:<port> in the sandbox). */
  issuer: string;
  /** What proofs must be bound to (the issuer URL unless overridden). */
  audience: string;
  /** Port to listen on, or 0 for a random one. */
  port: number;
  /** The sandbox agent this platform's workload is mapped to, and the allowed resources/users. */
  agentId: string;
  resources: readonly string[];
  agentUsers: readonly string[];
  /** The environment the sandbox was started from (its SANDBOX_* variables), if any. */
  env?: Env;
}

export interface SandboxPlatform {
  name: 'gcp' | 'aws' | 'n8n' | 'oidc';
  /** Body of `platforms.<name>` in the sandbox policy. */
  platformConfig: Record<string, unknown>;
  /** Rules (policy file shape) mapping the sandbox workload to the sandbox agent. */
  rules: Record<string, unknown>[];
  /** The platform's section of GET /_sandbox. */
  manifest: Record<string, unknown>;
  /** Instead of one section named after the platform: several, by name (oidc: `kubernetes`, `githubActions`). */
  manifestSections?: Record<string, Record<string, unknown>>;
  /** Lines for the start-up banner. */
  banner: string[];
  close(): Promise<void>;
}

export type SandboxPlatformFactory = ((ctx: SandboxPlatformContext) => Promise<SandboxPlatform>) & {
  /** Consecutive ports it listens on from `ctx.port` (default 1), so that the next platform starts after them. */
  readonly ports?: number;
};
