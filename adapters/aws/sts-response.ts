/**
 * Reading STS's answer to a forwarded GetCallerIdentity (docs/platforms/aws.md#what-the-bridge-checks-and-why): the XML of
 * the query protocol, or the JSON STS sends when asked with `Accept: application/json`. Errors come
 * back as `<ErrorResponse><Error><Code>…` or `{"Error":{"Code":…}}` and become a reason here; the
 * body itself is never echoed to the caller.
 */
import { accept, refuse, type Refusal, type Result } from '../../src/verify/contract.ts';
import { STS_RETRY_AFTER_SEC } from './constants.ts';
import type { StsEndpoint } from './sts-hosts.ts';

export interface CallerIdentity {
  readonly arn: string;
  readonly userId: string;
  readonly account: string;
}

export function parseCallerIdentity(contentType: string | null, body: string): Result<CallerIdentity> {
  const fields = isJson(contentType, body) ? jsonFields(body) : xmlFields(body);
  if (!fields)
    return refuse('verifier_unavailable', 'STS answered 200 with a body that is not a GetCallerIdentity result');
  const { Arn: arn, UserId: userId, Account: account } = fields;
  if (!arn || !userId || !account) return refuse('verifier_unavailable', 'STS answered without Arn, UserId or Account');
  if (!/^[0-9]{12}$/.test(account)) return refuse('proof_claim', 'STS answered an account that is not 12 digits');
  if (!/^[A-Z0-9]{10,128}(?::[A-Za-z0-9+=,.@_-]{1,64})?$/.test(userId))
    return refuse('proof_claim', 'STS answered a UserId this bridge does not understand');
  return accept({ arn, userId, account });
}

/** An error answer → a reason. `endpoint` shapes the advice for the region-scope error. */
export function refusalFromStsError(
  status: number,
  contentType: string | null,
  body: string,
  endpoint: StsEndpoint,
): Refusal {
  const { code, message } = errorOf(contentType, body);
  const said = `STS ${endpoint.host} answered ${status} ${code}${message ? `: ${message}` : ''}`;
  const fields = { host: endpoint.host, received: `${status} ${code}` };
  const unavailable = { fields, retryAfterSec: STS_RETRY_AFTER_SEC };
  switch (code) {
    case 'SignatureDoesNotMatch': {
      // The error users hit most with GetCallerIdentity proofs (docs/platforms/aws.md#what-the-bridge-checks-and-why).
      const scoped = /scoped to a valid region(?:, not '([a-z0-9-]*)')?/i.exec(message);
      if (scoped) {
        const advice = `sign for https://${endpoint.host}/ with region ${endpoint.region}${scoped[1] ? `, or, to keep region ${scoped[1]}, sign for its regional endpoint` : ''}`;
        return refuse(
          'proof_signature',
          `${said} — the credential scope must name the region of the endpoint: ${advice} (listed in platforms.aws.regions)`,
          {
            fields: {
              host: endpoint.host,
              claim: 'credential_scope_region',
              expected: endpoint.region,
              ...(scoped[1] ? { received: scoped[1] } : {}),
            },
            publicDetail: `STS refused the credential scope region: ${advice}.`,
          },
        );
      }
      if (/signature expired|not yet current/i.test(message)) return refuse('proof_expired', said, { fields });
      return refuse(
        'proof_signature',
        `${said} — the signature does not verify (wrong secret, or the request was changed after signing)`,
        { fields },
      );
    }
    case 'ExpiredToken':
    case 'RequestExpired':
      return refuse('proof_expired', `${said} — the workload's temporary credentials have expired`, { fields });
    case 'InvalidClientTokenId':
      return refuse(
        'proof_rejected_upstream',
        `${said} — the access key or session token is unknown to STS (or STS is not enabled in that region for the account)`,
        { fields },
      );
    case 'IncompleteSignature':
    case 'MissingAuthenticationToken':
    case 'InvalidAction':
    case 'InvalidParameterValue':
    case 'MalformedQueryString':
      return refuse('proof_malformed', said, { fields });
    case 'AccessDenied':
      return refuse('proof_rejected_upstream', said, { fields });
    case 'Throttling':
    case 'ThrottlingException':
    case 'RequestLimitExceeded':
    case 'ServiceUnavailable':
    case 'InternalFailure':
      return refuse('verifier_unavailable', said, unavailable);
  }
  if (status >= 500 || status === 429) return refuse('verifier_unavailable', said, unavailable);
  return refuse('proof_rejected_upstream', said, { fields });
}

function isJson(contentType: string | null, body: string): boolean {
  return contentType !== null ? /json/i.test(contentType) : body.trimStart().startsWith('{');
}

function jsonFields(body: string): Partial<Record<'Arn' | 'UserId' | 'Account', string>> | undefined {
  try {
    const doc = JSON.parse(body) as {
      GetCallerIdentityResponse?: { GetCallerIdentityResult?: Record<string, unknown> };
    };
    const result = doc.GetCallerIdentityResponse?.GetCallerIdentityResult;
    if (typeof result !== 'object' || result === null) return undefined;
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
    return { Arn: str(result.Arn), UserId: str(result.UserId), Account: str(result.Account) };
  } catch {
    return undefined;
  }
}

/**
 * The three elements inside <GetCallerIdentityResult>, each exactly once. A tiny, strict reader:
 * STS's document is flat, and a general XML parser would be a larger surface than the need.
 */
function xmlFields(body: string): Partial<Record<'Arn' | 'UserId' | 'Account', string>> | undefined {
  if (!/^\s*(?:<\?xml[^>]*\?>\s*)?<GetCallerIdentityResponse[\s>]/.test(body)) return undefined;
  const result = onlyElement(body, 'GetCallerIdentityResult');
  if (result === undefined) return undefined;
  return { Arn: textOf(result, 'Arn'), UserId: textOf(result, 'UserId'), Account: textOf(result, 'Account') };
}

function errorOf(contentType: string | null, body: string): { code: string; message: string } {
  let code: string | undefined;
  let message: string | undefined;
  if (isJson(contentType, body)) {
    try {
      const doc = JSON.parse(body) as {
        Error?: { Code?: unknown; Message?: unknown };
        __type?: unknown;
        message?: unknown;
      };
      code = str(doc.Error?.Code) ?? str(doc.__type)?.split('#').pop();
      message = str(doc.Error?.Message) ?? str(doc.message);
    } catch {
      // unreadable: reported as Unknown below
    }
  } else {
    const error = onlyElement(body, 'Error');
    if (error !== undefined) {
      code = textOf(error, 'Code');
      message = textOf(error, 'Message');
    }
  }
  return {
    code: code !== undefined && /^[A-Za-z0-9.]{1,64}$/.test(code) ? code : 'Unknown',
    // One line, bounded: the message goes to the audit log only.
    message: (message ?? '').replace(/\s+/g, ' ').trim().slice(0, 300),
  };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function onlyElement(xml: string, name: string): string | undefined {
  const re = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, 'g');
  const all = [...xml.matchAll(re)];
  return all.length === 1 ? all[0]![1] : undefined;
}

function textOf(xml: string, name: string): string | undefined {
  const inner = onlyElement(xml, name);
  if (inner === undefined || inner.includes('<')) return undefined;
  return decodeXmlText(inner.trim());
}

function decodeXmlText(text: string): string {
  return text.replace(
    /&(lt|gt|amp|quot|apos);/g,
    (_, e: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[e]!,
  );
}
