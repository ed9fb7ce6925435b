/**
 * The credential's Test button: local checks of the three fields, then a dry run at the bridge
 * (POST <Bridge URL>/explain with a fresh assertion: the bridge verifies it exactly as for /token,
 * reads its replay store and writes nothing, spends no jti and never calls Microsoft Entra;
 * agent-id-bridge docs/platforms/n8n.md#the-credential-test). Every answer names what to fix; none
 * quotes the key, the assertion or anything of the bridge's policy.
 */
import type { INodeCredentialTestResult } from 'n8n-workflow';

import { parseInstanceKey, signAssertion } from './assertion';
import type { InstanceKey } from './assertion';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_JWT } from './bridge';

/** Instance ids become part of `iss` (`n8n:<instanceId>`): the bridge's own rule. */
export const INSTANCE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** The workflow id the dry run names: no workflow is being run, and a workflow id is required. */
export const CREDENTIAL_TEST_WORKFLOW_ID = 'credential-test';
/** /explain needs a target; which one does not matter, the answer about the instance and key is the same. */
const DRY_RUN_RESOURCE = 'https://graph.microsoft.com';
const TEST_TIMEOUT_MS = 10_000;
/** The bridge tolerates at most 60 s of clock skew (docs/platforms/n8n.md#configuration-platformsn8n-in-the-policy-file). */
const MAX_SKEW_SEC = 60;

/** n8n project ids are nanoids; the bridge accepts project_id claims of this form (docs/platforms/n8n.md#assertion-format). */
export const PROJECT_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

export interface CredentialFields {
  bridgeUrl?: unknown;
  instanceId?: unknown;
  privateKey?: unknown;
  projectId?: unknown;
}

export interface CheckedCredential {
  bridgeUrl: string;
  instanceId: string;
  key: InstanceKey;
  /** The project this credential is for, when set: the assertion's project_id claim. */
  projectId: string | undefined;
}

/** Which field is wrong and why, in words an n8n user can act on. */
export interface FieldProblem {
  field: 'Bridge URL' | 'Instance ID' | 'Private Key' | 'Project ID';
  problem: string;
}

/** The local checks, shared by the Test button and every run of the node. */
export function checkCredentialFields(raw: CredentialFields): CheckedCredential | FieldProblem {
  const bridgeUrl = (typeof raw.bridgeUrl === 'string' ? raw.bridgeUrl : '').trim().replace(/\/+$/, '');
  const instanceId = (typeof raw.instanceId === 'string' ? raw.instanceId : '').trim();
  const urlProblem = bridgeUrlProblem(bridgeUrl);
  if (urlProblem) return { field: 'Bridge URL', problem: urlProblem };
  if (instanceId === '') return { field: 'Instance ID', problem: 'it is empty' };
  if (!INSTANCE_ID_PATTERN.test(instanceId))
    return {
      field: 'Instance ID',
      problem:
        'it must be 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit (the id the instance is registered under in the bridge policy)',
    };
  const key = parseInstanceKey(typeof raw.privateKey === 'string' ? raw.privateKey : '');
  if ('problem' in key) return { field: 'Private Key', problem: key.problem };
  const projectId = (typeof raw.projectId === 'string' ? raw.projectId : '').trim();
  if (projectId !== '' && !PROJECT_ID_PATTERN.test(projectId))
    return {
      field: 'Project ID',
      problem:
        'it must be the project\'s ID as in its URL (…/projects/<ID>/workflows): 1-128 letters, digits, "_" or "-"; leave it empty if the bridge\'s rules do not ask for it',
    };
  return { bridgeUrl, instanceId, key, projectId: projectId || undefined };
}

function bridgeUrlProblem(url: string): string | undefined {
  if (url === '') return 'it is empty';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'it is not a URL; enter the bridge issuer URL, e.g. https://bridge.example.com';
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    return 'it must start with https:// (the bridge issuer URL, e.g. https://bridge.example.com)';
  if (parsed.search !== '' || parsed.hash !== '' || parsed.username !== '' || parsed.password !== '')
    return 'it must be the bridge issuer URL alone, without a query, fragment or user name';
  if (/\/(token|explain)$/.test(parsed.pathname))
    return `it ends in ${parsed.pathname.slice(parsed.pathname.lastIndexOf('/'))}; enter the issuer URL without it (the node adds /token)`;
  return undefined;
}

/** What the Test button's HTTP call answered; headers with lower-case names. */
export interface ProbeAnswer {
  statusCode: number;
  body: unknown;
  headers: Record<string, unknown>;
}

/** POSTs a form and answers any HTTP status without throwing; throws only when no answer came. */
export type Probe = (url: string, form: string, timeoutMs: number) => Promise<ProbeAnswer>;

export async function testCredential(
  raw: CredentialFields,
  probe: Probe,
  now: () => number = Date.now,
): Promise<INodeCredentialTestResult> {
  const checked = checkCredentialFields(raw);
  if ('problem' in checked) return error(`${checked.field}: ${checked.problem}`);
  const { bridgeUrl, instanceId, key, projectId } = checked;
  const assertion = signAssertion(key, {
    instanceId,
    workflowId: CREDENTIAL_TEST_WORKFLOW_ID,
    ...(projectId ? { projectId } : {}),
    audience: `${bridgeUrl}/token`,
    now: Math.floor(now() / 1000),
  });
  const form = new URLSearchParams({
    grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
    subject_token: assertion,
    subject_token_type: TOKEN_TYPE_JWT,
    resource: DRY_RUN_RESOURCE,
  }).toString();
  let answer: ProbeAnswer;
  try {
    answer = await probe(`${bridgeUrl}/explain`, form, TEST_TIMEOUT_MS);
  } catch (e) {
    return error(unreachable(bridgeUrl, e));
  }
  return judge(answer, { bridgeUrl, instanceId, kid: key.kid, skewSec: skewOf(answer, now()) });
}

interface Judged {
  bridgeUrl: string;
  instanceId: string;
  kid: string;
  /** Bridge clock minus this host's clock, from the answer's Date header (seconds), when it has one. */
  skewSec: number | undefined;
}

function judge(answer: ProbeAnswer, j: Judged): INodeCredentialTestResult {
  const { statusCode: status, headers } = answer;
  const body = jsonObject(answer.body);
  const said = typeof body?.error_description === 'string' ? body.error_description : '';
  const requestId = typeof body?.request_id === 'string' ? ` (bridge request id ${body.request_id})` : '';
  const isBridgeError = body !== undefined && typeof body.error === 'string';

  if (status === 200 && body !== undefined && typeof body.workload === 'object' && body.workload !== null)
    return {
      status: 'OK',
      message: `The bridge at ${j.bridgeUrl} accepts instance "${j.instanceId}" with this key (kid ${j.kid}). Dry run: no token was issued. Which workflows may get tokens is up to the bridge policy's rules.`,
    };
  if (status >= 300 && status < 400) {
    const location = typeof headers.location === 'string' ? ` to ${headers.location}` : '';
    return error(
      `Bridge URL: ${j.bridgeUrl} redirects (HTTP ${status}${location}). Enter the bridge's issuer URL itself: the node does not follow redirects.`,
    );
  }
  if (status === 404)
    return error(
      isBridgeError && body?.error === 'not_found'
        ? `Bridge URL: ${j.bridgeUrl} is an agent-id-bridge, but not its issuer URL: it has no ${new URL(j.bridgeUrl).pathname.replace(/\/$/, '')}/explain route. Remove the path after the host (or use the exact issuer URL the operator gave you).`
        : `Bridge URL: nothing at ${j.bridgeUrl} answers POST /explain (HTTP 404 Not Found), so it is not an agent-id-bridge issuer URL. Use the issuer URL the bridge operator gave you, e.g. https://bridge.example.com.`,
    );
  if (!isBridgeError)
    return error(
      `Bridge URL: ${j.bridgeUrl} answered HTTP ${status} without an OAuth error body, which is not how agent-id-bridge answers. Check that the URL is the bridge's issuer URL (not a proxy or login page).`,
    );
  if (status === 429 || status === 503) {
    const retry = Number(headers['retry-after']);
    const when = Number.isFinite(retry) && retry > 0 ? `in ${retry} s` : 'later';
    return error(
      `The bridge at ${j.bridgeUrl} is busy or unavailable right now: ${said} Test again ${when}.${requestId}`,
    );
  }
  if (status === 400 && /could not be verified/i.test(said)) return proofRefused(said, j, requestId);
  if (status === 400 && /does not name a supported mode/i.test(said) && /explain/i.test(said))
    return error(
      `The bridge at ${j.bridgeUrl} has its dry-run endpoint turned off (BRIDGE_EXPLAIN=off), so instance "${j.instanceId}" and this key (kid ${j.kid}) cannot be checked without a real token exchange. The local checks passed; run a workflow to find out.${requestId}`,
    );
  return error(
    `The bridge at ${j.bridgeUrl} refused the dry run (HTTP ${status} ${String(body?.error)}): ${said}${requestId}`,
  );
}

/** A 400 about the assertion: the bridge's public hints first, then what it deliberately does not say. */
function proofRefused(said: string, j: Judged, requestId: string): INodeCredentialTestResult {
  const audience = /audience \(aud\) must be "([^"]+)"/.exec(said);
  if (audience) {
    const issuer = audience[1]!.replace(/\/token$/, '');
    return error(
      `Bridge URL: the bridge knows instance "${j.instanceId}" and this key, but its issuer URL is ${issuer}, not ${j.bridgeUrl}. Set Bridge URL to exactly ${issuer}: the assertion's audience must match it.${requestId}`,
    );
  }
  if (/expired|not valid yet/i.test(said)) {
    const clock = clockMessage(j, said);
    return error(`${clock.charAt(0).toUpperCase()}${clock.slice(1)}${requestId}`);
  }
  const clock = j.skewSec !== undefined && Math.abs(j.skewSec) > MAX_SKEW_SEC ? ` Also: ${clockMessage(j, said)}` : '';
  return error(
    `The bridge does not accept instance "${j.instanceId}" with this key (kid ${j.kid}): either the instance is not registered in the bridge policy (platforms.n8n.instances), or this key is not registered for it. ` +
      `The bridge does not say which, so as not to reveal which instances exist; its operator can read it in the audit log under the request id below (proof_untrusted_issuer: unknown instance; proof_unknown_key: unknown key). ` +
      `Check Instance ID for typos, and ask the operator whether platforms.n8n.instances.${j.instanceId}.keys holds the public key with kid ${j.kid}.${clock}${requestId}`,
  );
}

function clockMessage(j: Judged, said: string): string {
  if (j.skewSec !== undefined && Math.abs(j.skewSec) >= 1) {
    const direction = j.skewSec > 0 ? 'behind' : 'ahead of';
    return `this n8n host's clock is about ${Math.abs(j.skewSec)} s ${direction} the bridge's; the bridge accepts at most ${MAX_SKEW_SEC} s. Correct the host's time (NTP).`;
  }
  return `the bridge refused the assertion's times (${said.replace(/^The workload proof could not be verified\.\s*/, '')}); check this n8n host's clock (NTP).`;
}

/** The bridge's clock from its Date header (RFC 9110 §6.6.1), to one second. */
function skewOf(answer: ProbeAnswer, nowMs: number): number | undefined {
  const date = answer.headers.date;
  if (typeof date !== 'string') return undefined;
  const bridgeMs = Date.parse(date);
  return Number.isNaN(bridgeMs) ? undefined : Math.round((bridgeMs - nowMs) / 1000);
}

/** No HTTP answer at all: say which part of the URL to check, by the error code (Node's or n8n's). */
export function unreachable(bridgeUrl: string, e: unknown): string {
  const code = errorCode(e);
  const { host, hostname, protocol } = new URL(bridgeUrl);
  switch (code) {
    case 'ECONNREFUSED':
      return `Bridge URL: nothing is listening at ${host} (connection refused). Check the host and port, and that the bridge is running and reachable from this n8n host.`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `Bridge URL: the host name ${hostname} does not resolve (DNS ${code}) from this n8n host. Check the spelling.`;
    case 'ETIMEDOUT':
    case 'ECONNABORTED':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
      return `Bridge URL: no answer from ${host} within ${TEST_TIMEOUT_MS / 1000} s. Check the host and port, and any firewall or proxy between n8n and the bridge.`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `Bridge URL: ${host} is unreachable from this n8n host (${code}). Check the network route or proxy.`;
    case 'ECONNRESET':
    case 'EPROTO':
      return protocol === 'https:'
        ? `Bridge URL: ${host} closed the connection during the TLS handshake (${code}). Is the port serving plain http? Then the URL must start with http://.`
        : `Bridge URL: ${host} closed the connection (${code}). Is the port serving https? Then the URL must start with https://.`;
    default:
      if (code !== undefined && /CERT|SELF_SIGNED|SSL|TLS/.test(code))
        return `Bridge URL: the TLS certificate of ${hostname} is not trusted by this n8n host (${code}). Use the bridge's public https URL, or add its CA to n8n's trust store (NODE_EXTRA_CA_CERTS).`;
      return `Bridge URL: cannot reach ${host}${code ? ` (${code})` : ''}. Check the URL and that the bridge is reachable from this n8n host.`;
  }
}

/** Node's error codes sit on the error or on its causes (n8n wraps axios, axios wraps Node). */
function errorCode(e: unknown, depth = 0): string | undefined {
  if (typeof e !== 'object' || e === null || depth > 4) return undefined;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && code !== '' && !/^ERR_BAD_(REQUEST|RESPONSE)$/.test(code)) return code;
  return errorCode((e as { cause?: unknown }).cause, depth + 1);
}

function jsonObject(raw: unknown): Record<string, unknown> | undefined {
  let value = raw;
  if (typeof value === 'string' || Buffer.isBuffer(value)) {
    try {
      value = JSON.parse(value.toString());
    } catch {
      return undefined;
    }
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function error(message: string): INodeCredentialTestResult {
  return { status: 'Error', message };
}
