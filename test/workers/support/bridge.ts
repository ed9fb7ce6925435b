/**
 * Helpers of the Workers tests (run inside workerd): call the Worker as a client would, and act as
 * each workload, with the emulators and helpers the Node global setup started.
 */
import { exports } from 'cloudflare:workers';
import { inject } from 'vitest';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE } from '../../../src/constants.ts';
import type { BridgeHandler } from '../../../src/worker.ts';
import { signN8nAssertion } from '../harness/n8n-assertion.ts';
import type { StackInfo } from '../harness/types.ts';

export const stack: StackInfo = inject('stack');

export interface TokenAnswer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** The deployed Worker's own fetch handler (its module-level, once-per-isolate bridge). */
export const worker: BridgeHandler = (request) => exports.default.fetch(request);

export async function postForm(
  fields: Record<string, string>,
  opts: { path?: string; via?: BridgeHandler } = {},
): Promise<TokenAnswer> {
  const request = new Request(`${stack.issuer}${opts.path ?? '/token'}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: GRANT_TYPE_TOKEN_EXCHANGE, ...fields }).toString(),
  });
  const res = await (opts.via ?? worker)(request);
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { unparsed: text };
  }
  return { status: res.status, headers: res.headers, body };
}

/** A GCP workload: an ID token from the metadata server (emulator), as google-auth-library gets it. */
export async function gcpIdToken(audience = stack.audience): Promise<string> {
  const url = `http://${stack.gcp.metadataHost}/computeMetadata/v1/instance/service-accounts/default/identity?audience=${encodeURIComponent(audience)}&format=full`;
  const res = await fetch(url, { headers: { 'Metadata-Flavor': 'Google' } });
  if (res.status !== 200) throw new Error(`metadata emulator answered ${res.status}`);
  return res.text();
}

/** An n8n instance assertion, in the format the community node signs (docs/platforms/n8n.md#assertion-format). */
export function n8nAssertion(p: { jti?: string; workflowId?: string; audience?: string } = {}): Promise<string> {
  const { privateJwk, instanceId, workflowId } = stack.n8n;
  return signN8nAssertion({
    privateJwk,
    instanceId,
    workflowId: p.workflowId ?? workflowId,
    audience: p.audience ?? `${stack.issuer}/token`,
    ...(p.jti ? { jti: p.jti } : {}),
  });
}

/** AWS proof kind 1: a signed sts:GetCallerIdentity, signed in Node by the AWS workload stand-in. */
export async function awsGetCallerIdentity(p: { audience?: string; stsHost?: string } = {}): Promise<string> {
  return ((await workload('POST', '/aws/get-caller-identity', p)) as { proof: string }).proof;
}

/** AWS proof kind 2: a GetWebIdentityToken JWT from the STS emulator. */
export async function awsWebIdentityToken(p: { audience?: string; alg?: 'RS256' | 'ES384' } = {}): Promise<string> {
  return ((await workload('POST', '/aws/web-identity-token', p)) as { token: string }).token;
}

export async function stsCalls(): Promise<{ action: string; host: string; status: number }[]> {
  return (await workload('GET', '/aws/calls')) as { action: string; host: string; status: number }[];
}

async function workload(method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${stack.workloadUrl}${path}`, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
  });
  if (res.status !== 200) throw new Error(`workload stand-in ${path} answered ${res.status}: ${await res.text()}`);
  return res.json();
}

export interface EntraCall {
  grantType: string;
  clientId: string;
  fmiPath?: string;
  status: number;
  leg: string;
}

/** Token-endpoint calls the Entra emulator served (its test-only control route). */
export async function entraCalls(): Promise<EntraCall[]> {
  return (await (await fetch(`${stack.entraUrl}/_emulator/calls`)).json()) as EntraCall[];
}

export const TYPES = TOKEN_TYPE;
