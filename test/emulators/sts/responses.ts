/**
 * STS's answer shapes for the query protocol: XML by default, JSON when the caller sends
 * `Accept: application/json` (what Teleport, Chainguard and aws-iam-authenticator rely on,
 * docs/platforms/aws.md#what-the-bridge-checks-and-why). Element names are from the AWS SDK's STS schema and the verifiers'
 * structs [seen]; the JSON error envelope {"Error":{Type,Code,Message},"RequestId"} is [recalled].
 */
import { randomUUID } from 'node:crypto';

export interface StsError {
  status: number;
  code: string;
  message: string;
  type: 'Sender' | 'Receiver';
}

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';

const SIGNATURE_MISMATCH_TEXT =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

/** The error answers the emulator gives, with STS's codes, statuses and messages [recalled]. */
export const STS_ERRORS = {
  SIGNATURE_MISMATCH_TEXT,
  signatureDoesNotMatch: (message: string): StsError => ({
    status: 403,
    code: 'SignatureDoesNotMatch',
    message,
    type: 'Sender',
  }),
  incompleteSignature: (message: string): StsError => ({
    status: 400,
    code: 'IncompleteSignature',
    message,
    type: 'Sender',
  }),
  missingAuthenticationToken: (): StsError => ({
    status: 403,
    code: 'MissingAuthenticationToken',
    message: 'Request is missing Authentication Token',
    type: 'Sender',
  }),
  invalidClientTokenId: (): StsError => ({
    status: 403,
    code: 'InvalidClientTokenId',
    message: 'The security token included in the request is invalid.',
    type: 'Sender',
  }),
  expiredToken: (): StsError => ({
    status: 403,
    code: 'ExpiredToken',
    message: 'The security token included in the request is expired',
    type: 'Sender',
  }),
  accessDenied: (arn: string, action: string): StsError => ({
    status: 403,
    code: 'AccessDenied',
    message: `User: ${arn} is not authorized to perform: sts:${action}`,
    type: 'Sender',
  }),
  invalidAction: (message: string): StsError => ({ status: 400, code: 'InvalidAction', message, type: 'Sender' }),
  validationError: (message: string): StsError => ({
    status: 400,
    code: 'ValidationError',
    message: `1 validation error detected: ${message}`,
    type: 'Sender',
  }),
  federationDisabled: (): StsError => ({
    status: 403,
    code: 'OutboundWebIdentityFederationDisabledException',
    message: 'The outbound web identity federation feature is not enabled for this account.',
    type: 'Sender',
  }),
  serviceUnavailable: (): StsError => ({
    status: 503,
    code: 'ServiceUnavailable',
    message: 'Service is unable to handle request.',
    type: 'Receiver',
  }),
};

export interface Answer {
  status: number;
  contentType: string;
  body: string;
}

export function wantsJson(accept: string | undefined): boolean {
  return accept !== undefined && /application\/json/i.test(accept);
}

export function errorAnswer(e: StsError, json: boolean): Answer {
  const requestId = randomUUID();
  if (json)
    return {
      status: e.status,
      contentType: 'application/json',
      body: JSON.stringify({ Error: { Type: e.type, Code: e.code, Message: e.message }, RequestId: requestId }),
    };
  return {
    status: e.status,
    contentType: 'text/xml',
    body: `<ErrorResponse xmlns="${NS}">\n  <Error>\n    <Type>${e.type}</Type>\n    <Code>${e.code}</Code>\n    <Message>${xml(e.message)}</Message>\n  </Error>\n  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`,
  };
}

/** `<Action>Response` with `<Action>Result` fields, or its JSON twin. */
export function resultAnswer(action: string, fields: Record<string, string>, json: boolean): Answer {
  const requestId = randomUUID();
  if (json) {
    return {
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify({
        [`${action}Response`]: { [`${action}Result`]: fields, ResponseMetadata: { RequestId: requestId } },
      }),
    };
  }
  const inner = Object.entries(fields)
    .map(([k, v]) => `    <${k}>${xml(v)}</${k}>`)
    .join('\n');
  return {
    status: 200,
    contentType: 'text/xml',
    body: `<${action}Response xmlns="${NS}">\n  <${action}Result>\n${inner}\n  </${action}Result>\n  <ResponseMetadata>\n    <RequestId>${requestId}</RequestId>\n  </ResponseMetadata>\n</${action}Response>\n`,
  };
}

/** Element text: only &, < and > need escaping (quotes stay, as in STS's own messages). */
function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
