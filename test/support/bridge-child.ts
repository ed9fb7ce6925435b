/**
 * The Node entry as an operator runs it: a child process (the sources or the release build) on a
 * free port (PORT=0), its JSON log lines parsed as they arrive, its URL read from the "listening"
 * line. Every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';

export { MINIMAL_POLICY } from './minimal-policy.ts';

export interface BridgeChild {
  child: ChildProcess;
  url: string;
  port: number;
  /** Every JSON line written to stdout so far. */
  lines: Record<string, unknown>[];
  stderr: () => string;
  /** Resolves with the first line (already seen or still to come) that satisfies `pred`. */
  waitForLine(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(): void;
}

export async function startBridgeChild(
  args: string[],
  env: Record<string, string>,
  opts: { cwd?: string; execPath?: string; startTimeoutMs?: number } = {},
): Promise<BridgeChild> {
  const child = spawn(opts.execPath ?? process.execPath, args, {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH ?? '', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] =
    [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      line = { unparsed: text };
    }
    lines.push(line);
    for (const w of [...waiters]) if (w.pred(line)) waiters.splice(waiters.indexOf(w), 1) && w.resolve(line);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const waitForLine = (pred: (l: Record<string, unknown>) => boolean, timeoutMs = 15_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const seen = lines.find(pred);
      if (seen) return resolve(seen);
      const timer = setTimeout(
        () =>
          reject(
            new Error(`no such log line within ${timeoutMs} ms; stdout: ${JSON.stringify(lines)}; stderr: ${stderr}`),
          ),
        timeoutMs,
      );
      waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      void exited.then(() =>
        setTimeout(
          () => reject(new Error(`exited before the log line; stdout: ${JSON.stringify(lines)}; stderr: ${stderr}`)),
          50,
        ),
      );
    });
  const listening = await waitForLine((l) => l.event === 'listening', opts.startTimeoutMs ?? 15_000).catch(
    (e: unknown) => {
      child.kill('SIGKILL');
      throw e;
    },
  );
  const url = String(listening.url);
  return {
    child,
    url,
    port: Number(new URL(url).port),
    lines,
    stderr: () => stderr,
    waitForLine,
    exited,
    kill: () => child.kill('SIGKILL'),
  };
}

/** A raw connection, so a test can send part of a request now and the rest later. */
export async function rawConnection(
  port: number,
): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let data = '';
  socket.on('data', (d: Buffer) => (data += d.toString()));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, received: () => data, closed };
}

/** Whether a new TCP connection to the port is accepted. */
export function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}
