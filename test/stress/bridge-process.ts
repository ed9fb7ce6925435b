/**
 * The bridge side of `npm run stress` (./stress.ts forks it): the sandbox in its own process, so
 * that its memory and event-loop delay are measured apart from the attacking client. It answers
 * the parent over IPC: stats (RSS, heap, worst event-loop delay, STS calls, refusal reasons), reset
 * (start a new measurement window) and mint-gcp (a fresh ID token for the legitimate client).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { AuditEvent } from '../../src/audit/audit.ts';
import type { AwsSandboxPlatform } from '../../sandbox/platforms/aws.ts';
import { startSandbox } from '../../sandbox/sandbox.ts';

export type StressRequest =
  { id: number; type: 'stats' | 'reset' | 'close' } | { id: number; type: 'mint-gcp'; nonce: string; sub?: string };

export interface BridgeStats {
  rssMiB: number;
  heapMiB: number;
  worstEventLoopDelayMs: number;
  stsCalls: number;
  reasons: Record<string, number>;
}

const reasons = new Map<string, number>();
const count = (e: AuditEvent) => {
  const key = e.reason ?? e.outcome;
  reasons.set(key, (reasons.get(key) ?? 0) + 1);
};

const sb = await startSandbox({ port: 0, audit: count });
const aws = sb.platforms.find((p) => p.name === 'aws') as AwsSandboxPlatform;
const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();

const MiB = 1024 * 1024;
const stats = (): BridgeStats => {
  const mem = process.memoryUsage();
  return {
    rssMiB: mem.rss / MiB,
    heapMiB: mem.heapUsed / MiB,
    worstEventLoopDelayMs: delay.max / 1e6,
    stsCalls: aws.emulator.count('GetCallerIdentity'),
    reasons: Object.fromEntries(reasons),
  };
};

process.on('message', (raw) => {
  const msg = raw as StressRequest;
  void (async () => {
    switch (msg.type) {
      case 'stats':
        return process.send!({ id: msg.id, value: stats() });
      case 'reset':
        delay.reset();
        reasons.clear();
        return process.send!({ id: msg.id, value: stats() });
      case 'mint-gcp':
        return process.send!({
          id: msg.id,
          value: await sb.gcp.emulator.mintIdToken({
            audience: sb.url,
            format: 'full',
            claims: {
              nonce: msg.nonce,
              ...(msg.sub
                ? { sub: msg.sub, email: `stranger-${msg.sub.slice(0, 6)}@example.iam.gserviceaccount.com` }
                : {}),
            },
          }),
        });
      case 'close':
        await sb.close();
        process.send!({ id: msg.id, value: null });
        return process.exit(0);
    }
  })();
});

process.send!({ id: 0, value: { url: sb.url, manifest: sb.manifest } });
