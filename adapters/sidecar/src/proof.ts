/**
 * Where the sidecar's platform proof comes from (AGENT_ID_BRIDGE_PROOF, docs/sidecar.md#proof-sources).
 * The sidecar holds no secret: each proof is minted from the platform's own identity when a token
 * is not in the cache.
 * - aws-sigv4: a signed sts:GetCallerIdentity (kind 1), credentials from the AWS SDK's default chain.
 * - aws-web-identity: sts:GetWebIdentityToken (kind 2), same credentials.
 * - gcp: a Google ID token from the metadata server or Application Default Credentials.
 * - file:<path>: a token file (e.g. a projected Kubernetes service account token), re-read when it changes.
 * - command:<cmd>: a command's standard output (run with /bin/sh -c), on every cache miss.
 * The platform packages are loaded when chosen, so a host needs only its own platform's SDK.
 */
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { TOKEN_TYPE, type Proof } from '../../client/src/index.ts';
import { PROOF_COMMAND_TIMEOUT_MS, PROOF_MAX_BYTES } from './constants.ts';

export type ProofSpec =
  | { kind: 'aws-sigv4' }
  | { kind: 'aws-web-identity' }
  | { kind: 'gcp' }
  | { kind: 'file'; path: string }
  | { kind: 'command'; command: string };

export const PROOF_VALUES = 'aws-sigv4, aws-web-identity, gcp, file:<path> or command:<cmd>';

export function parseProofSpec(value: string): ProofSpec {
  const v = value.trim();
  if (v === 'aws-sigv4' || v === 'aws-web-identity' || v === 'gcp') return { kind: v };
  if (v.startsWith('file:') && v.length > 'file:'.length) return { kind: 'file', path: v.slice('file:'.length) };
  if (v.startsWith('command:') && v.slice('command:'.length).trim() !== '')
    return { kind: 'command', command: v.slice('command:'.length) };
  throw new Error(`AGENT_ID_BRIDGE_PROOF: must be ${PROOF_VALUES}`);
}

export function describeProof(spec: ProofSpec): string {
  // The command line may carry arguments a log should not; its program name is enough to recognise it.
  if (spec.kind === 'command') return `command:${spec.command.trim().split(/\s+/)[0]} ...`;
  return spec.kind === 'file' ? `file:${spec.path}` : spec.kind;
}

/** What tells the sidecar which platform it runs on, when AGENT_ID_BRIDGE_PROOF is unset. */
export interface PlatformSignals {
  env: Record<string, string | undefined>;
  /** The contents of a file such as /sys/class/dmi/id/product_name, or undefined. */
  readSystemFile: (path: string) => string | undefined;
}

/** Environment variables the platforms set or their SDKs read (docs/sidecar.md#detection). */
const AWS_VARIABLES = [
  'AWS_LAMBDA_FUNCTION_NAME', // Lambda (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html)
  'AWS_EXECUTION_ENV',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI', // ECS, EKS Pod Identity (https://docs.aws.amazon.com/sdkref/latest/guide/feature-container-credentials.html)
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_WEB_IDENTITY_TOKEN_FILE', // EKS IRSA
  'AWS_ACCESS_KEY_ID',
  'AWS_PROFILE',
];
const GCP_VARIABLES = [
  'K_SERVICE', // Cloud Run services (https://cloud.google.com/run/docs/container-contract#env-vars)
  'CLOUD_RUN_JOB',
  'FUNCTION_TARGET',
  'GCE_METADATA_HOST', // google-auth-library's metadata server override
  'GOOGLE_APPLICATION_CREDENTIALS',
];

/**
 * The proof when none is configured: AWS or GCP, from the platform's environment variables or the
 * machine's DMI vendor strings (how google-auth-library detects Compute Engine, gcp-residency.ts;
 * how AWS documents identifying EC2: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/identify_ec2_instances.html).
 * Both or neither: the operator must say (fail closed rather than guess).
 */
export function detectProof(signals: PlatformSignals): { spec: ProofSpec; because: string } {
  const set = (names: string[]) => names.filter((n) => (signals.env[n] ?? '') !== '');
  const aws = set(AWS_VARIABLES);
  const gcp = set(GCP_VARIABLES);
  if (/^Google/.test(signals.readSystemFile('/sys/class/dmi/id/product_name')?.trim() ?? ''))
    gcp.push('a Google machine');
  if ((signals.readSystemFile('/sys/class/dmi/id/sys_vendor')?.trim() ?? '') === 'Amazon EC2')
    aws.push('an EC2 machine');
  if (aws.length > 0 && gcp.length > 0)
    throw new Error(
      `AGENT_ID_BRIDGE_PROOF: both AWS (${aws.join(', ')}) and GCP (${gcp.join(', ')}) are detected; set it to ${PROOF_VALUES}`,
    );
  if (aws.length > 0) return { spec: { kind: 'aws-sigv4' }, because: aws.join(', ') };
  if (gcp.length > 0) return { spec: { kind: 'gcp' }, because: gcp.join(', ') };
  throw new Error(`AGENT_ID_BRIDGE_PROOF: no platform detected; set it to ${PROOF_VALUES}`);
}

/** A fresh proof on every call. `audience` is the bridge audience the platform proofs are bound to. */
export async function createProof(spec: ProofSpec, audience: string): Promise<() => Promise<Proof>> {
  switch (spec.kind) {
    case 'aws-sigv4':
    case 'aws-web-identity': {
      const { createAwsProof } = await import('../../aws/client/src/index.ts');
      return createAwsProof({
        audience,
        proof: spec.kind === 'aws-sigv4' ? 'get-caller-identity' : 'web-identity-token',
      });
    }
    case 'gcp': {
      const { createGcpProof } = await import('../../gcp/client/src/index.ts');
      return createGcpProof({ audience });
    }
    case 'file':
      return fileProof(spec.path);
    case 'command':
      return commandProof(spec.command);
  }
}

/** The file's token, read again only when its modification time, size or inode changed (a rotated projected token). */
function fileProof(path: string): () => Promise<Proof> {
  let last: { key: string; token: string } | undefined;
  return async () => {
    const s = await stat(path);
    const key = `${s.ino}:${s.size}:${s.mtimeMs}`;
    if (last?.key !== key) {
      if (s.size > PROOF_MAX_BYTES) throw new Error(`token file ${path} is larger than ${PROOF_MAX_BYTES} bytes`);
      const token = (await readFile(path, 'utf8')).trim();
      if (token === '') throw new Error(`token file ${path} is empty`);
      last = { key, token };
    }
    return { token: last.token, tokenType: TOKEN_TYPE.jwt };
  };
}

/** The command's standard output, trimmed. Its standard error and arguments are never reported: they may hold anything. */
function commandProof(command: string): () => Promise<Proof> {
  return () =>
    new Promise((resolve, reject) => {
      execFile(
        '/bin/sh',
        ['-c', command],
        { timeout: PROOF_COMMAND_TIMEOUT_MS, maxBuffer: PROOF_MAX_BYTES, windowsHide: true },
        (error, stdout) => {
          if (error) {
            const why = error.killed
              ? `did not finish within ${PROOF_COMMAND_TIMEOUT_MS} ms`
              : `exited with code ${String(error.code)}`;
            reject(new Error(`${describeProof({ kind: 'command', command })} ${why}`));
            return;
          }
          const token = stdout.trim();
          if (token === '') reject(new Error('the proof command printed nothing'));
          else resolve({ token, tokenType: TOKEN_TYPE.jwt });
        },
      );
    });
}
