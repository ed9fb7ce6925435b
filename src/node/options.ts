/**
 * Options of the Node process itself, read by src/node.ts for the configured bridge and the sandbox
 * alike (they configure neither, so they do not count as "configured" for the sandbox check):
 *  - BRIDGE_METRICS_LISTEN: where GET /metrics is served: unset = on the main listener, `off`, or
 *    `host:port` (`[::1]:9464` for IPv6) for a listener of its own, e.g. on a private interface;
 *  - BRIDGE_SHUTDOWN_GRACE_MS: how long in-flight requests may finish after SIGTERM.
 * docs/operations.md (configuration) lists them.
 */
import { DEFAULT_SHUTDOWN_GRACE_MS } from '../constants.ts';

export const NODE_ENV_OPTIONS = {
  metricsListen: 'BRIDGE_METRICS_LISTEN',
  shutdownGraceMs: 'BRIDGE_SHUTDOWN_GRACE_MS',
} as const;

export type MetricsPlacement = { where: 'main' } | { where: 'off' } | { where: 'listen'; host: string; port: number };

export interface NodeOptions {
  metrics: MetricsPlacement;
  shutdownGraceMs: number;
}

const MAX_SHUTDOWN_GRACE_MS = 600_000;

export function nodeOptions(env: Readonly<Record<string, string | undefined>>): {
  options: NodeOptions;
  problems: string[];
} {
  const problems: string[] = [];
  const metrics = metricsPlacement(env[NODE_ENV_OPTIONS.metricsListen]?.trim(), problems);
  let shutdownGraceMs = DEFAULT_SHUTDOWN_GRACE_MS;
  const grace = env[NODE_ENV_OPTIONS.shutdownGraceMs]?.trim();
  if (grace) {
    const n = Number(grace);
    if (Number.isInteger(n) && n >= 0 && n <= MAX_SHUTDOWN_GRACE_MS) shutdownGraceMs = n;
    else
      problems.push(
        `${NODE_ENV_OPTIONS.shutdownGraceMs}: must be an integer from 0 to ${MAX_SHUTDOWN_GRACE_MS} (milliseconds)`,
      );
  }
  return { options: { metrics, shutdownGraceMs }, problems };
}

function metricsPlacement(value: string | undefined, problems: string[]): MetricsPlacement {
  if (!value) return { where: 'main' };
  if (value === 'off') return { where: 'off' };
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    problems.push(`${NODE_ENV_OPTIONS.metricsListen}: must be host:port (e.g. 0.0.0.0:9464 or [::]:9464) or "off"`);
    return { where: 'main' };
  }
  return { where: 'listen', host: (m[1] ?? m[2])!, port };
}
