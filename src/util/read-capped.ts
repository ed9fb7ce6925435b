/**
 * Read a byte stream to the end, or stop as soon as it passes `maxBytes` (then the stream is
 * cancelled and `undefined` returned). The one size guard for inbound bodies and upstream answers.
 * With `deadlineMs`, a stream that has not ended by then is cancelled and BodyDeadlineError thrown,
 * so a slowly sent body cannot hold the request (and its connection) open.
 */
export class BodyDeadlineError extends Error {
  constructor(deadlineMs: number, bytesRead: number) {
    super(`body not complete within ${deadlineMs} ms (${bytesRead} bytes read)`);
    this.name = 'BodyDeadlineError';
  }
}

export async function readCapped(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
  opts: { deadlineMs?: number } = {},
): Promise<Uint8Array | undefined> {
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let timedOut = false;
  const deadlineMs = opts.deadlineMs;
  const timer =
    deadlineMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          // A pending read() then resolves as done; the loop below turns that into the error.
          reader.cancel().catch(() => {});
        }, deadlineMs);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (timedOut) throw new BodyDeadlineError(deadlineMs!, total);
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel();
        return undefined;
      }
      chunks.push(value);
    }
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
  const all = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.byteLength;
  }
  return all;
}
