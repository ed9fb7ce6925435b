/**
 * The audit line writer on Node: lines are buffered and written together once per turn of the
 * event loop, so a busy bridge makes one write per turn instead of one `console.log` per request
 * (its formatting and a synchronous write on a pipe or file each time; docs/performance.md has
 * the profile that showed it). No line is ever dropped: when the buffer reaches
 * AUDIT_BUFFER_MAX_BYTES it is written at once, and `flush()` writes what is left (the process
 * calls it on exit, and on shutdown before it exits).
 *
 * Node writes to files and pipes synchronously on Linux
 * (https://nodejs.org/api/process.html#a-note-on-process-i-o), so a flushed batch has reached
 * the kernel when `write` returns.
 */
import { AUDIT_BUFFER_MAX_BYTES } from '../constants.ts';

export interface LineWriter {
  /** Queue one line (no trailing newline). */
  write(line: string): void;
  /** Write every queued line now. */
  flush(): void;
}

export interface LineSink {
  write(chunk: string): unknown;
}

export function bufferedLineWriter(
  sink: LineSink,
  maxBytes = AUDIT_BUFFER_MAX_BYTES,
  schedule: (fn: () => void) => void = setImmediate,
): LineWriter {
  let pending = '';
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending === '') return;
    const chunk = pending;
    pending = '';
    sink.write(chunk);
  };
  return {
    write(line) {
      pending += `${line}\n`;
      if (pending.length >= maxBytes) return flush();
      if (!scheduled) {
        scheduled = true;
        schedule(flush);
      }
    },
    flush,
  };
}

let stdoutWriter: LineWriter | undefined;

/** The process's one buffered writer on stdout, flushed when the process exits. */
export function stdoutLineWriter(): LineWriter {
  if (stdoutWriter === undefined) {
    const writer = bufferedLineWriter(process.stdout);
    process.once('exit', writer.flush);
    stdoutWriter = writer;
  }
  return stdoutWriter;
}
