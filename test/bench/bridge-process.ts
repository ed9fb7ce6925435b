/**
 * The bridge side of `npm run bench` (./bench.ts forks it): the sandbox with its limits lifted
 * (SandboxOptions.liftLimits) in a process of its own, so that the load generator does not share
 * its event loop. Audit lines go to stdout as in production; the parent counts them.
 *
 *   node test/bench/bridge-process.ts main        the sandbox, plus rules for the STS emulator's other
 *                                                 two credentials (more distinct signed requests)
 *   node test/bench/bridge-process.ts cold <n>    the sandbox plus n more agents, each allowed by its
 *                                                 own rule to a second GCP service account (cold
 *                                                 exchanges and the cached-entries memory figure)
 *
 * IPC: `stats` (RSS, heap, Entra and STS calls, cache counters), `mint-gcp` (ID tokens signed by
 * the GCP emulator, which lives here), `profile-start` and `profile-stop` (a CPU profile of the
 * rounds only, without start-up and minting: https://nodejs.org/api/inspector.html#cpu-profiler),
 * `close`.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import type { AwsSandboxPlatform } from '../../sandbox/platforms/aws.ts';
import { startSandbox, type SandboxPolicy } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';
import { DEFAULT_CREDENTIALS, SANDBOX_ACCOUNT } from '../emulators/sts/index.ts';
import type { EmulatedTenant } from '../emulators/entra/model.ts';
import { COLD_SERVICE_ACCOUNT, coldAgentId, serverStats, type BenchBridgeStats } from './shared.ts';

type BenchBridgeRequest =
  | { id: number; type: 'close' }
  | { id: number; type: 'profile-start' }
  | { id: number; type: 'profile-stop'; path: string }
  | { id: number; type: 'stats'; collect?: boolean }
  | { id: number; type: 'mint-gcp'; count: number; sub?: string; email?: string };

const [profile = 'main', countArg = '0'] = process.argv.slice(2);
const extraAgents = profile === 'cold' ? Number(countArg) : 0;

/**
 * The STS emulator's other credentials may act as the sandbox agent too (the `main` profile). A role
 * principal is named without its path (docs/platforms/aws.md), so the path role is `role/reporting`.
 */
function withAllStsCredentials(policy: SandboxPolicy): SandboxPolicy {
  const awsRule = policy.rules.find((r) => r.platform === 'aws')!;
  const others = [`arn:aws:iam::${SANDBOX_ACCOUNT}:role/reporting`, DEFAULT_CREDENTIALS.user.arn].map(
    (principal, i) => ({ ...awsRule, name: `bench-aws-${i}`, principal, attributes: { account: SANDBOX_ACCOUNT } }),
  );
  return { ...policy, rules: [...policy.rules, ...others] };
}

function withColdAgents(policy: SandboxPolicy): SandboxPolicy {
  const tenant = policy.tenants[0] as { blueprints: { agents: { id: string; name: string }[] }[] };
  const blueprint = tenant.blueprints[0]!;
  const agents = Array.from({ length: extraAgents }, (_, i) => ({ id: coldAgentId(i), name: `bench-agent-${i}` }));
  const rules = agents.map((a) => ({
    name: `bench-cold-${a.name}`,
    platform: 'gcp',
    principal: COLD_SERVICE_ACCOUNT.sub,
    agent: a.id,
    resources: [SANDBOX.graph, SANDBOX.api],
    modes: ['autonomous'],
  }));
  return {
    ...policy,
    tenants: [{ ...policy.tenants[0], blueprints: [{ ...blueprint, agents: [...blueprint.agents, ...agents] }] }],
    rules: [...policy.rules, ...rules],
  };
}

function tenantWithColdAgents(t: EmulatedTenant): EmulatedTenant {
  const agents = Array.from({ length: extraAgents }, (_, i) => ({
    appId: coldAgentId(i),
    displayName: `Bench agent ${i}`,
    parentBlueprintId: SANDBOX.blueprintId,
    appRoles: { [SANDBOX.graph]: ['User.Read.All'], [SANDBOX.api]: ['Orders.Read'] },
    delegatedGrants: [],
  }));
  return { ...t, agents: [...t.agents, ...agents] };
}

const sb = await startSandbox({
  port: 0,
  liftLimits: true,
  policy: (p) => (extraAgents > 0 ? withColdAgents(p) : withAllStsCredentials(p)),
  ...(extraAgents > 0 ? { tenant: tenantWithColdAgents } : {}),
});
const aws = sb.platforms.find((p) => p.name === 'aws') as AwsSandboxPlatform;
const gc = (globalThis as { gc?: () => void }).gc;

let profiler: Session | undefined;

const MiB = 1024 * 1024;
/**
 * `collect`: a full collection first (--expose-gc), so that RSS and heap show what is held. Never
 * right before a measurement window: the bench lets the heap settle under load after one (./bench.ts).
 */
function stats(collect: boolean): BenchBridgeStats {
  if (collect) gc?.();
  const { cpuMicros } = serverStats();
  const mem = process.memoryUsage();
  return {
    cpuMicros,
    rssMiB: mem.rss / MiB,
    heapMiB: mem.heapUsed / MiB,
    entraCalls: sb.entra.calls.length,
    stsCalls: aws.emulator.count('GetCallerIdentity'),
    verifiedProofHits: sb.deps.verifiedProofs.stats.hits,
  };
}

process.on('message', (raw) => {
  const msg = raw as BenchBridgeRequest;
  void (async () => {
    switch (msg.type) {
      case 'stats':
        return process.send!({ id: msg.id, value: stats(msg.collect === true) });
      case 'mint-gcp': {
        const claims = msg.sub ? { sub: msg.sub, email: msg.email } : {};
        const tokens: string[] = [];
        // In batches: WebCrypto signs on the thread pool, so a few at a time use both cores.
        for (let i = 0; i < msg.count; i += 64) {
          const batch = Array.from({ length: Math.min(64, msg.count - i) }, (_, j) =>
            sb.gcp.emulator.mintIdToken({
              audience: sb.url,
              format: 'full',
              claims: { ...claims, nonce: `bench-${i + j}` },
            }),
          );
          tokens.push(...(await Promise.all(batch)));
        }
        return process.send!({ id: msg.id, value: tokens });
      }
      case 'profile-start':
        profiler = new Session();
        profiler.connect();
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.start');
        return process.send!({ id: msg.id, value: null });
      case 'profile-stop': {
        const { profile } = await profiler!.post('Profiler.stop');
        writeFileSync(msg.path, JSON.stringify(profile));
        profiler!.disconnect();
        return process.send!({ id: msg.id, value: msg.path });
      }
      case 'close':
        await sb.close();
        process.send!({ id: msg.id, value: null });
        return process.exit(0);
    }
  })();
});

process.send!({ id: 0, value: { url: sb.url, manifest: sb.manifest, gcpJwk: sb.gcp.emulator.signingKey.publicJwk } });
