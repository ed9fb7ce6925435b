/**
 * Strict reading of an application/x-www-form-urlencoded body (RFC 6749 §3.2; docs/architecture.md#the-token-endpoint):
 * the content type is required, the body is capped while it streams in, and a repeated parameter
 * is refused (RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once").
 */
import { BODY_READ_DEADLINE_MS, MAX_FORM_BODY_BYTES } from '../constants.ts';
import { BridgeError } from '../errors.ts';
import { BodyDeadlineError, readCapped } from '../util/read-capped.ts';

export type Form = ReadonlyMap<string, string>;

/**
 * RFC 8693 §2.1 lets `resource` and `audience` repeat; the bridge serves one of each per request,
 * so a repetition of those is a target error (invalid_target), not a malformed request.
 */
const REPEAT_MEANS_TARGET = new Map([
  ['resource', 'multiple_resources'],
  ['audience', 'multiple_audiences'],
] as const);

export async function readStrictForm(
  req: Request,
  maxBytes = MAX_FORM_BODY_BYTES,
  deadlineMs = BODY_READ_DEADLINE_MS,
): Promise<Form> {
  const type = (req.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded')
    throw new BridgeError('unsupported_media_type', `content-type ${JSON.stringify(type)}`);
  const lengthHeader = req.headers.get('content-length');
  const declared = lengthHeader === null ? Number.NaN : Number(lengthHeader);
  if (Number.isFinite(declared) && declared > maxBytes)
    throw new BridgeError('body_too_large', `content-length ${declared}`);

  const text =
    Number.isSafeInteger(declared) && declared >= 0
      ? await readDeclaredText(req, maxBytes, deadlineMs)
      : await readCappedText(req, maxBytes, deadlineMs);
  const form = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(text)) {
    // RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
    if (value === '') continue;
    if (form.has(name)) {
      const targetReason = REPEAT_MEANS_TARGET.get(name as 'resource');
      throw new BridgeError(targetReason ?? 'duplicate_parameter', `parameter ${name} repeated`);
    }
    form.set(name, value);
  }
  return form;
}

/**
 * The body within its size cap and read deadline. A body stream that fails before its end means the
 * client went away (a closed or reset connection): audited as client_aborted, not as our error.
 */
async function readCappedText(req: Request, maxBytes: number, deadlineMs: number): Promise<string> {
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readCapped(req.body, maxBytes, { deadlineMs });
  } catch (e) {
    if (e instanceof BodyDeadlineError) throw new BridgeError('body_timeout', e.message);
    throw new BridgeError('client_aborted', `request body stream failed: ${e instanceof Error ? e.name : 'unknown'}`);
  }
  if (!bytes) throw new BridgeError('body_too_large', `body over ${maxBytes} bytes`);
  return decodeUtf8(bytes);
}

/**
 * A body whose Content-Length is within the cap is read whole: the runtime's HTTP parser delivers
 * exactly that many bytes (RFC 9112 §6.2), and reading it whole is the runtime's cheapest path
 * (@hono/node-server reads it straight from the socket, with no web stream in between; the
 * profile in docs/performance.md). The deadline still applies; the length is checked again after
 * the read, for a Request built in-process whose header says less than its body holds.
 */
async function readDeclaredText(req: Request, maxBytes: number, deadlineMs: number): Promise<string> {
  let bytes: ArrayBuffer;
  try {
    bytes = await withDeadline(req.arrayBuffer(), deadlineMs);
  } catch (e) {
    if (e instanceof BodyDeadlineError) throw new BridgeError('body_timeout', e.message);
    throw new BridgeError('client_aborted', `request body stream failed: ${e instanceof Error ? e.name : 'unknown'}`);
  }
  if (bytes.byteLength > maxBytes) throw new BridgeError('body_too_large', `body over ${maxBytes} bytes`);
  return decodeUtf8(new Uint8Array(bytes));
}

/**
 * `read`'s outcome, or a BodyDeadlineError once `deadlineMs` passed first; one promise and one timer,
 * cleared as soon as the read settles. A read that settles after the deadline is ignored.
 */
function withDeadline<T>(read: Promise<T>, deadlineMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new BodyDeadlineError(deadlineMs, 0)), deadlineMs);
    read.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** Stateless between calls: `decode` without `{ stream: true }` starts afresh each time (WHATWG Encoding §7.2). */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return STRICT_UTF8.decode(bytes);
  } catch {
    throw new BridgeError('malformed_request', 'body is not UTF-8');
  }
}
