/**
 * The measured cost of the shared token cache (docs/redis.md): Entra calls made by N sandbox
 * replicas on one Redis, with BRIDGE_SHARED_TOKEN_CACHE on and off, for a cold burst: BURST
 * concurrent identical exchanges spread round robin over the replicas (what every replica start
 * and every token renewal looks like).
 * Usage: node test/bench/shared-token-cache.ts  (uses TEST_REDIS_URL, else starts redis-server).
 */
import { TOKEN_TYPE } from '../../src/constants.ts';
import { startSandbox } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';
import { postToken } from '../support/http.ts';
import { ownRedis, type OwnRedis } from '../support/redis.ts';

const BURST = Number(process.env.BURST ?? 40);
const REPLICAS = [1, 2, 4, 8];

let own: OwnRedis | undefined;
const redisUrl = process.env.TEST_REDIS_URL ?? (own = await ownRedis()).url;

async function measure(replicas: number, shared: boolean): Promise<{ leg1: number; leg2: number }> {
  const sb = await startSandbox({
    port: 0,
    replicas,
    redisUrl,
    audit: () => {},
    overrides: { BRIDGE_SHARED_TOKEN_CACHE: shared ? 'on' : 'off' },
  });
  try {
    const proof = await sb.gcp.emulator.mintIdToken({ audience: sb.url, format: 'full' });
    sb.entra.resetCalls();
    const answers = await Promise.all(
      Array.from({ length: BURST }, (_, i) =>
        postToken(sb.replicas[i % replicas]!, {
          subject_token: proof,
          subject_token_type: TOKEN_TYPE.jwt,
          resource: SANDBOX.graph,
        }),
      ),
    );
    const failed = answers.filter((a) => a.status !== 200);
    if (failed.length > 0) throw new Error(`${failed.length} exchanges failed: ${JSON.stringify(failed[0]!.body)}`);
    return {
      leg1: sb.entra.calls.filter((c) => c.leg === 'leg1').length,
      leg2: sb.entra.calls.filter((c) => c.leg === 'leg2').length,
    };
  } finally {
    await sb.close();
  }
}

try {
  console.log(`Entra calls for ${BURST} concurrent identical cold exchanges spread over N replicas (one Redis)`);
  console.log('replicas | shared cache off: leg 1 / leg 2 | shared cache on: leg 1 / leg 2');
  for (const n of REPLICAS) {
    const off = await measure(n, false);
    const on = await measure(n, true);
    console.log(
      `${String(n).padStart(8)} | ${`${off.leg1} / ${off.leg2}`.padStart(31)} | ${`${on.leg1} / ${on.leg2}`.padStart(30)}`,
    );
  }
} finally {
  await own?.stop();
}
