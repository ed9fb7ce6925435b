/**
 * What GET /readyz answers (docs/operations.md, lifecycle): ready while every registered check
 * passes and the process is not draining. Checks cover what the bridge needs right now to answer
 * (its signing key, its policy, a configured shared store such as Redis), never Entra itself: an
 * Entra outage is answered per request with 503 and Retry-After, and taking every replica out of
 * the load balancer for it would only turn those answers into connection errors.
 *
 * A check answers true (ready) or false / a short reason (not ready); one that throws or takes
 * longer than READINESS_CHECK_TIMEOUT_MS is not ready. /readyz shows each check as "ok" or
 * "failing" only: it is public, and a reason may name a host.
 */
import { READINESS_CHECK_TIMEOUT_MS } from '../constants.ts';

export type ReadinessCheck = () => boolean | string | Promise<boolean | string>;

export interface ReadinessReport {
  ready: boolean;
  draining: boolean;
  checks: Record<string, 'ok' | 'failing'>;
}

export class Readiness {
  readonly #checks = new Map<string, ReadinessCheck>();
  #draining = false;

  /** Register (or replace) a named check, e.g. `readiness.add('redis', () => client.status === 'ready')`. */
  add(name: string, check: ReadinessCheck): void {
    this.#checks.set(name, check);
  }

  /** From now on /readyz answers 503: the process is shutting down (src/node/shutdown.ts). */
  drain(): void {
    this.#draining = true;
  }

  get draining(): boolean {
    return this.#draining;
  }

  async report(timeoutMs = READINESS_CHECK_TIMEOUT_MS): Promise<ReadinessReport> {
    const entries = await Promise.all(
      [...this.#checks].map(
        async ([name, check]) => [name, (await runCheck(check, timeoutMs)) ? 'ok' : 'failing'] as const,
      ),
    );
    const checks = Object.fromEntries(entries);
    return { ready: !this.#draining && entries.every(([, s]) => s === 'ok'), draining: this.#draining, checks };
  }
}

async function runCheck(check: ReadinessCheck, timeoutMs: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    const answer = await Promise.race([Promise.resolve().then(check), timeout]);
    return answer === true;
  } catch {
    return false;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
