/**
 * What the Node side of the Workers tests (global setup, smoke script) hands to the tests that run
 * inside workerd. Portable: type-checked under both the Node and the Workers tsconfig.
 */

export interface StackInfo {
  /** The bridge's issuer URL as the Entra emulator's FIC names it. */
  issuer: string;
  /** What proofs must be bound to (the issuer). */
  audience: string;
  entraUrl: string;
  tenantId: string;
  blueprintId: string;
  agentId: string;
  otherAgentId: string;
  graph: string;
  api: string;
  humanUser: { username: string; password: string; clientId: string; scope: string };
  gcp: { metadataHost: string };
  n8n: { instanceId: string; workflowId: string; privateJwk: Record<string, string> };
  aws: { roleArn: string; stsHost: string; region: string };
  /** The emulated Kubernetes API server (TokenRequest) and GitHub Actions token service (sandbox/platforms/oidc.ts). */
  kubernetes: { apiServer: string; namespace: string; serviceAccount: string; adminToken: string };
  githubActions: { requestUrl: string; requestToken: string };
  /** Node-side stand-in for the AWS workload (tests only): signs and fetches AWS proofs on request. */
  workloadUrl: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Vars and secrets of the Worker under test, as .dev.vars would hold them. */
    workerBindings: Record<string, string>;
    stack: StackInfo;
  }
}
