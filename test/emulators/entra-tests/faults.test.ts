/**
 * The Entra emulator checks what Entra checks: Injected faults and the call log.
 * Over real HTTP on 127.0.0.1 (fixtures.ts). Test names ending in "(assumed: …)" rest on an
 * inference, not on documented Entra behaviour.
 */
import { describe, expect, it } from 'vitest';
import {
  BP,
  EXCHANGE_SCOPE,
  GRAPH,
  agentForm,
  entra,
  expectEntraError,
  leg1Form,
  now,
  post,
  t1For,
  useEntraEmulators,
} from './fixtures.ts';

useEntraEmulators();

describe('faults and the call log', () => {
  it('throttles with 429, Retry-After and an Entra-shaped body, then answers normally', async () => {
    entra.injectFault({ kind: 'throttle', retryAfterSec: 7 });
    const r = await post(await leg1Form());
    expectEntraError(r, 429, 'temporarily_unavailable', 50196);
    expect(r.headers.get('retry-after')).toBe('7');
    expect((await post(await leg1Form())).status).toBe(200);
    expect(entra.calls.map((c) => [c.status, c.aadsts, c.leg])).toEqual([
      [429, 50196, 'leg1'],
      [200, undefined, 'leg1'],
    ]);
  });

  it('answers 503 with Retry-After and 500 without, for `count` calls in order', async () => {
    entra.injectFault({ kind: 'unavailable', status: 503, retryAfterSec: 2 });
    entra.injectFault({ kind: 'unavailable', status: 500 }, 2);
    const a = await post(await leg1Form());
    expectEntraError(a, 503, 'temporarily_unavailable', 90033);
    expect(a.headers.get('retry-after')).toBe('2');
    for (let i = 0; i < 2; i++) {
      const b = await post(await leg1Form());
      expectEntraError(b, 500, 'server_error', 50000);
      expect(b.headers.get('retry-after')).toBeNull();
    }
    expect((await post(await leg1Form())).status).toBe(200);
  });

  it('delays a slow answer, then processes it normally', async () => {
    entra.injectFault({ kind: 'slow', delayMs: 250 });
    const started = Date.now();
    const r = await post(await leg1Form());
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
    expect(r.status).toBe(200);
  });

  it('returns an arbitrary Entra error, and clearFaults() empties the queue', async () => {
    entra.injectFault({
      kind: 'error',
      status: 400,
      error: 'invalid_grant',
      aadsts: 50173,
      description: 'The provided grant has expired due to it being revoked.',
    });
    const r = await post(await leg1Form());
    expectEntraError(r, 400, 'invalid_grant', 50173);
    expect(r.body.error_description).toMatch(/^AADSTS50173: The provided grant has expired/);
    entra.injectFault({ kind: 'throttle', retryAfterSec: 1 }, 3);
    entra.clearFaults();
    expect((await post(await leg1Form())).status).toBe(200);
  });

  it('offers the same controls over HTTP (emulator-only routes)', async () => {
    const bad = await fetch(`${entra.url}/_emulator/faults`, {
      method: 'POST',
      body: JSON.stringify({ fault: { kind: 'nope' } }),
      headers: { 'content-type': 'application/json' },
    });
    expect(bad.status).toBe(400);
    const ok = await fetch(`${entra.url}/_emulator/faults`, {
      method: 'POST',
      body: JSON.stringify({ fault: { kind: 'throttle', retryAfterSec: 3 }, count: 2 }),
      headers: { 'content-type': 'application/json' },
    });
    expect(ok.status).toBe(200);
    expect((await post(await leg1Form())).status).toBe(429);
    expect((await fetch(`${entra.url}/_emulator/faults`, { method: 'DELETE' })).status).toBe(204);
    expect((await post(await leg1Form())).status).toBe(200);
    const calls = (await (await fetch(`${entra.url}/_emulator/calls`)).json()) as { status: number }[];
    expect(calls.map((c) => c.status)).toEqual([429, 200]);
    expect((await fetch(`${entra.url}/_emulator/calls`, { method: 'DELETE' })).status).toBe(204);
    expect(entra.calls).toEqual([]);
  });

  it('records every call with its leg, including refusals', async () => {
    const t1 = await t1For();
    await post(await agentForm(EXCHANGE_SCOPE, t1));
    await post(await agentForm(`${GRAPH}/.default`, t1));
    await post(await leg1Form({ scope: `${GRAPH}/.default`, fmi_path: undefined }));
    await post({ grant_type: 'authorization_code', client_id: BP });
    expect(entra.calls.map((c) => c.leg)).toEqual(['leg1', 't2', 'leg2', 'other', 'other']);
    expect(entra.calls[4]).toMatchObject({ status: 400, aadsts: 70003, grantType: 'authorization_code' });
  });
});
