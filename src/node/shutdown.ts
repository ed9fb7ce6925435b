/**
 * Graceful shutdown on SIGTERM and SIGINT (docs/operations.md, lifecycle):
 *  1. /readyz answers 503 at once (src/lifecycle/readiness.ts), so a load balancer that still
 *     probes stops sending work;
 *  2. the listeners close: new connections are refused, idle keep-alive connections are closed, and
 *     every answer still to come says `Connection: close`;
 *  3. in-flight requests finish, for at most the grace period (BRIDGE_SHUTDOWN_GRACE_MS);
 *  4. the process exits 0: as soon as every connection is closed, or when the grace period ends,
 *     whatever is still open (a request stalled mid-body is the client's problem, not a reason to
 *     keep a terminating pod alive).
 * A second signal exits at once.
 */
import type { Readiness } from '../lifecycle/readiness.ts';
import type { BridgeLogger } from './logger.ts';

export interface Drainable {
  /** Stop accepting connections; resolves when every connection has closed. */
  drain(): Promise<void>;
  /** Close every connection still open, mid-request or not. */
  closeAll(): void;
}

export interface ShutdownOptions {
  readiness: Readiness;
  servers: readonly Drainable[];
  graceMs: number;
  logger: BridgeLogger;
  /** Further cleanup once the servers have drained (closing a store client); bounded by the grace too. */
  onDrained?: () => Promise<void>;
  exit?: (code: number) => void;
}

export function installShutdown(opts: ShutdownOptions): (signal: string) => void {
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  let shuttingDown = false;
  const finish = (why: string) => {
    opts.logger.info({ type: 'lifecycle', event: 'exit', why }, 'exiting');
    opts.logger.flush();
    exit(0);
  };
  const shutdown = (signal: string) => {
    if (shuttingDown) return finish(`second ${signal}`);
    shuttingDown = true;
    opts.readiness.drain();
    // Listeners close synchronously here, before the line below says so.
    const drained = Promise.all(opts.servers.map((s) => s.drain()));
    opts.logger.info(
      { type: 'lifecycle', event: 'draining', signal, grace_ms: opts.graceMs },
      'draining: refusing new connections, finishing in-flight requests',
    );
    const timer = setTimeout(() => {
      for (const s of opts.servers) s.closeAll();
      finish('grace period over');
    }, opts.graceMs);
    void drained
      .then(() => opts.onDrained?.())
      .catch(() => {})
      .then(() => {
        clearTimeout(timer);
        finish('drained');
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  return shutdown;
}
