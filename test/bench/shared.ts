/** What ./bench.ts and its child processes (./bridge-process.ts, ./floor-process.ts) share. */

/** What a server under test reports between runs. */
export interface ServerStats {
  rssMiB: number;
  /** User + system CPU time of the process so far, microseconds (process.cpuUsage). */
  cpuMicros: number;
}

export function serverStats(): ServerStats {
  const cpu = process.cpuUsage();
  return { rssMiB: process.memoryUsage().rss / 1024 / 1024, cpuMicros: cpu.user + cpu.system };
}

export interface BenchBridgeStats extends ServerStats {
  heapMiB: number;
  entraCalls: number;
  stsCalls: number;
  verifiedProofHits: number;
}

/** The second GCP service account of the `cold` profile: only it may act as the extra agents. */
export const COLD_SERVICE_ACCOUNT = {
  sub: '208234567890123456789',
  email: 'bench-cold@agent-id-bridge-demo.iam.gserviceaccount.com',
} as const;

/** The i-th extra agent of the `cold` profile. */
export function coldAgentId(i: number): string {
  return `a9e0b000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
}
