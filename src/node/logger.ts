/**
 * The one logger of the Node entry: pino, JSON lines (docs/operations.md, logs). Information goes to
 * stdout, warnings and errors to stderr; every line has `level` and an ISO-8601 `time`. Audit lines
 * go through the same logger with `"type":"audit"` and the audit's own field names
 * (src/audit/audit.ts), so one filter on `type` separates them; an audit line's `time` is the
 * decision's own.
 */
import { pino, type Logger } from 'pino';
import type { AuditSink } from '../audit/audit.ts';
import type { LineWriter } from '../audit/line-writer.ts';

export type BridgeLogger = Logger;

/**
 * `stdout` may be a line writer (src/audit/line-writer.ts): pino's lines then share its buffer, and
 * their order, with everything else written to stdout through it.
 */
export function createLogger(opts: { stdout?: LineWriter; stderr?: pino.DestinationStream } = {}): BridgeLogger {
  const stdout = opts.stdout;
  const streams = pino.multistream(
    [
      {
        level: 'info',
        stream: stdout ? lineStream(stdout) : pino.destination({ dest: 1, sync: true }),
      },
      { level: 'warn', stream: opts.stderr ?? pino.destination({ dest: 2, sync: true }) },
    ],
    { dedupe: true },
  );
  return pino(
    {
      base: null,
      // pino's own timestamp is replaced by a mixin, so that a line that brings its own `time`
      // (an audit event) keeps it instead of carrying the key twice.
      timestamp: false,
      mixin: () => ({ time: new Date().toISOString() }),
      formatters: { level: (label) => ({ level: label }) },
    },
    streams,
  );
}

/** Audit events as JSON lines through the logger, unchanged but for `level` (src/audit/audit.ts). */
export function loggerAuditSink(logger: BridgeLogger): AuditSink {
  return (event) => logger.info({ type: 'audit', ...event });
}

/** pino writes whole lines ending in a newline; a LineWriter takes them without (and flushes on shutdown). */
function lineStream(writer: LineWriter): pino.DestinationStream {
  return Object.assign(
    { write: (chunk: string) => writer.write(chunk.endsWith('\n') ? chunk.slice(0, -1) : chunk) },
    { flush: () => writer.flush() },
  );
}
