/**
 * The Workers twin of test/e2e/replay-store.test.ts: inside workerd, through the Worker, a replay
 * store that cannot take the proof (an n8n instance's quota full in its Durable Object shard, or the
 * Durable Object unreachable) answers 503 temporarily_unavailable with its own reason and
 * Retry-After: never proof_replayed, never a token.
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createBridgeHandler } from '../../src/worker.ts';
import { gcpIdToken, n8nAssertion, postForm, stack, TYPES, type TokenAnswer } from './support/bridge.ts';

/** Reasons of the audit lines (console.log JSON) written for these request ids. */
function auditReasons(log: ReturnType<typeof vi.spyOn>, ids: unknown[]): unknown[] {
  const events: Record<string, unknown>[] = log.mock.calls
    .map((args: unknown[]) => String(args[0]))
    .filter((line: string) => line.startsWith('{"type":"audit"'))
    .map((line: string) => JSON.parse(line) as Record<string, unknown>);
  return ids.map((id) => events.find((e) => e.request_id === id)?.reason);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('Workers: a replay store that cannot take the proof', () => {
  it('issue 13 item 2: an n8n instance at its replay quota → 503 replay_quota_exceeded with Retry-After, never proof_replayed', async () => {
    const log = vi.spyOn(console, 'log');
    // A quota of 1 per issuer is one key per shard: at most REPLAY_SHARDS fresh assertions fit.
    const handler = await createBridgeHandler({ ...env, BRIDGE_REPLAY_QUOTA_PER_ISSUER: '1' });
    const answers: TokenAnswer[] = [];
    for (let i = 0; i < 40; i += 1) {
      const answer = await postForm(
        { subject_token: await n8nAssertion(), subject_token_type: TYPES.jwt, resource: stack.graph },
        { via: handler },
      );
      answers.push(answer);
      if (answer.status !== 200) break;
    }
    const refused = answers.at(-1)!;
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ error: 'temporarily_unavailable', request_id: expect.any(String) });
    expect(refused.body).not.toHaveProperty('access_token');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(answers.slice(0, -1).every((a) => a.status === 200)).toBe(true);
    expect(auditReasons(log, [refused.body.request_id])).toEqual(['replay_quota_exceeded']);
  });

  it('issue 13 item 2: an unreachable replay Durable Object → 503 replay_store_unavailable; a GCP proof still gets its token', async () => {
    const log = vi.spyOn(console, 'log');
    const down = () => Promise.reject(new Error('Durable Object reset'));
    const REPLAY = { getByName: () => ({ markUsed: down, isUsed: down }) };
    const handler = await createBridgeHandler({ ...env, REPLAY: REPLAY as unknown as typeof env.REPLAY });
    const refused = await postForm(
      { subject_token: await n8nAssertion(), subject_token_type: TYPES.jwt, resource: stack.graph },
      { via: handler },
    );
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ error: 'temporarily_unavailable' });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(auditReasons(log, [refused.body.request_id])).toEqual(['replay_store_unavailable']);
    const gcp = await postForm(
      { subject_token: await gcpIdToken(), subject_token_type: TYPES.idToken, resource: stack.graph },
      { via: handler },
    );
    expect(gcp.status).toBe(200);
  });
});
