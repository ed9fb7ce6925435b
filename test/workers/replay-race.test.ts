/**
 * The replay race (docs/workers.md#durable-objects): 20 concurrent exchanges with the same n8n jti across the Worker → exactly one
 * token. Once through the Worker's own handler, and once spread over independent "isolates" (separate
 * bridge builds with their own in-memory caches and single-flight maps) that share nothing but the
 * Durable Object bindings: so the one success is the Durable Object's doing, not an isolate's memory.
 */
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createBridgeHandler, type BridgeHandler } from '../../src/worker.ts';
import { n8nAssertion, postForm, stack, TYPES, worker, type TokenAnswer } from './support/bridge.ts';

const CONCURRENT = 20;

/** The audit events the bridge wrote for the proof with this SHA-256 (console.log JSON lines). */
function auditFor(log: ReturnType<typeof vi.spyOn>, proofSha256: string): Record<string, unknown>[] {
  return log.mock.calls
    .map((args: unknown[]) => String(args[0]))
    .filter((line: string) => line.startsWith('{"type":"audit"'))
    .map((line: string) => JSON.parse(line) as Record<string, unknown>)
    .filter((e: Record<string, unknown>) => e.proof_sha256 === proofSha256);
}

async function sha256Hex(text: string): Promise<string> {
  const d = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function race(
  handlers: readonly BridgeHandler[],
): Promise<{ answers: TokenAnswer[]; audit: Record<string, unknown>[] }> {
  const log = vi.spyOn(console, 'log');
  const assertion = await n8nAssertion();
  const answers = await Promise.all(
    Array.from({ length: CONCURRENT }, (_, i) =>
      postForm(
        { subject_token: assertion, subject_token_type: TYPES.jwt, resource: stack.graph },
        { via: handlers[i % handlers.length]! },
      ),
    ),
  );
  return { answers, audit: auditFor(log, await sha256Hex(assertion)) };
}

function expectExactlyOne({ answers, audit }: { answers: TokenAnswer[]; audit: Record<string, unknown>[] }): void {
  const issued = answers.filter((a) => a.status === 200);
  expect(issued).toHaveLength(1);
  expect(typeof issued[0]!.body.access_token).toBe('string');
  const refused = answers.filter((a) => a.status !== 200);
  expect(refused).toHaveLength(CONCURRENT - 1);
  for (const r of refused) {
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({
      error: 'invalid_request',
      error_description: 'The workload proof could not be verified.',
    });
    expect(r.headers.get('cache-control')).toBe('no-store');
  }
  // The audit log agrees: one issued, every other one refused as a replay of the same proof.
  expect(audit).toHaveLength(CONCURRENT);
  expect(audit.filter((e) => e.outcome === 'issued')).toHaveLength(1);
  expect(audit.filter((e) => e.outcome === 'denied' && e.reason === 'proof_replayed')).toHaveLength(CONCURRENT - 1);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('Durable Object replay protection: one jti, 20 concurrent exchanges', () => {
  it('through the Worker: exactly one token is issued', async () => {
    expectExactlyOne(await race([worker]));
  });

  it('across 5 independent isolates sharing only the Durable Object: exactly one token is issued', async () => {
    const isolates = await Promise.all(Array.from({ length: 5 }, () => createBridgeHandler(env)));
    expectExactlyOne(await race(isolates));
  });
});
