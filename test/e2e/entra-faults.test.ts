/**
 * How the bridge behaves when Entra misbehaves or the tenant is misconfigured
 * (docs/architecture.md#the-entra-legs): FIC mismatch → 502 with an operator message naming the AADSTS code; throttling and outages
 * → 503 with Retry-After; timeouts → 503; and single flight under a cold burst.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/audit.ts';
import { TOKEN_TYPE } from '../../src/constants.ts';
import { startSandbox, type Sandbox, type SandboxPolicy } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';
import { postToken } from '../support/http.ts';

const exchange = async (sb: Sandbox, extra: Record<string, string> = {}) =>
  postToken(sb.url, {
    subject_token: await sb.gcp.emulator.mintIdToken({ audience: sb.url, format: 'full' }),
    subject_token_type: TOKEN_TYPE.idToken,
    resource: SANDBOX.graph,
    ...extra,
  });

describe('Entra refuses the bridge: tenant misconfiguration', () => {
  let sb: Sandbox;
  const audit: AuditEvent[] = [];
  beforeAll(async () => {
    // The policy asserts a subject the blueprint's FIC does not have: exactly what a typo does.
    const wrongSubject = (p: SandboxPolicy): SandboxPolicy => {
      const tenants = structuredClone(p.tenants) as { blueprints: { ficSubject?: string }[] }[];
      tenants[0]!.blueprints[0]!.ficSubject = 'agent-id-bridge:typo';
      return { ...p, tenants };
    };
    sb = await startSandbox({ port: 0, policy: wrongSubject, audit: (e) => audit.push(e) });
  });
  afterAll(async () => sb?.close());

  it('issue 8 item 6: AADSTS700213 (FIC subject) → 502 naming the FIC field to fix; the expected subject only in the audit; no retry, no token', async () => {
    const res = await exchange(sb);
    expect(res.status).toBe(502);
    expect(res.body.error).toBe('entra_configuration_error');
    expect(res.body.error_description).toMatch(/AADSTS700213/);
    expect(res.body.error_description).toMatch(/FIC subject/);
    // The subject is policy content: named in the audit log, not in the response.
    expect(res.body.error_description).not.toContain('agent-id-bridge:typo');
    expect(res.body).not.toHaveProperty('access_token');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(sb.entra.calls.map((c) => [c.leg, c.aadsts])).toEqual([['leg1', 700213]]);
    expect(audit.at(-1)).toMatchObject({
      outcome: 'error',
      reason: 'entra_misconfigured',
      aadsts: '700213',
      fields: { fic_field: 'subject', expected: 'agent-id-bridge:typo', blueprint: SANDBOX.blueprintId },
    });
    expect(audit.at(-1)!.entra_correlation_id).toBeTruthy();
  });
});

describe('Entra unavailable, throttling or slow', () => {
  let sb: Sandbox;
  const audit: AuditEvent[] = [];
  beforeAll(async () => {
    sb = await startSandbox({
      port: 0,
      overrides: { ENTRA_TIMEOUT_MS: '300', ENTRA_MAX_ATTEMPTS: '2' },
      sleep: async () => {},
      audit: (e) => audit.push(e),
    });
  });
  afterAll(async () => sb?.close());
  beforeEach(() => {
    sb.entra.clearFaults();
    sb.entra.resetCalls();
  });

  it('429 with a long Retry-After → 503 temporarily_unavailable carrying it, without waiting', async () => {
    sb.entra.injectFault({ kind: 'throttle', retryAfterSec: 30 });
    const res = await exchange(sb, { resource: SANDBOX.api });
    expect(res.status).toBe(503);
    expect(res.body.error).toBe('temporarily_unavailable');
    expect(res.headers.get('retry-after')).toBe('30');
    expect(sb.entra.calls).toHaveLength(1);
    expect(audit.at(-1)).toMatchObject({ reason: 'entra_throttled' });
  });

  it("503 on every attempt → 503 with Entra's Retry-After, after the bounded retries", async () => {
    sb.entra.injectFault({ kind: 'unavailable', status: 503, retryAfterSec: 1 }, 2);
    const res = await exchange(sb, { resource: SANDBOX.api });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(sb.entra.calls).toHaveLength(2);
  });

  it('a single 500 is retried and the request succeeds', async () => {
    sb.entra.injectFault({ kind: 'unavailable', status: 500 }, 1);
    const res = await exchange(sb, { resource: SANDBOX.api });
    expect(res.status).toBe(200);
    expect(sb.entra.calls.map((c) => c.status)).toEqual([500, 200, 200]);
  });

  it('Entra timeout → 503 after the bounded attempts; no token', async () => {
    // A fresh agent-user pair is cold: leg 1 for this agent is cached already, so slow the next two POSTs.
    sb.entra.injectFault({ kind: 'slow', delayMs: 800 }, 2);
    const started = Date.now();
    const res = await exchange(sb, { agent_user: SANDBOX.agentUser.upn });
    expect(res.status).toBe(503);
    expect(res.body.error).toBe('temporarily_unavailable');
    expect(res.headers.get('retry-after')).toBeTruthy();
    expect(Date.now() - started).toBeLessThan(3000);
    expect(audit.at(-1)).toMatchObject({ reason: 'entra_timeout' });
  });
});

describe('single flight and caching', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox({ port: 0, audit: () => {} });
  });
  afterAll(async () => sb?.close());

  it('50 concurrent identical cold requests cause exactly one leg-1 and one leg-2 call; a warm request none', async () => {
    const proof = await sb.gcp.emulator.mintIdToken({ audience: sb.url, format: 'full' });
    const fields = { subject_token: proof, subject_token_type: TOKEN_TYPE.idToken, resource: SANDBOX.graph };
    const results = await Promise.all(Array.from({ length: 50 }, () => postToken(sb.url, fields)));
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(new Set(results.map((r) => r.body.access_token)).size).toBe(1);
    expect(sb.entra.calls.map((c) => c.leg)).toEqual(['leg1', 'leg2']);

    sb.entra.resetCalls();
    const warm = await postToken(sb.url, fields);
    expect(warm.status).toBe(200);
    expect(sb.entra.calls).toHaveLength(0);
  });
});
