/**
 * Issue 9 item 4: GET /metrics in Prometheus text format (docs/operations.md, metrics). The sandbox
 * serves it on its main listener like the Node entry; a known sequence of exchanges moves each
 * counter by exactly what it did, and no label carries a principal, agent, tenant or token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_TYPE } from '../../src/constants.ts';
import { aadstsLabel, entraResultOf } from '../../src/metrics/instrument.ts';
import { EntraHttpError } from '../../src/entra/types.ts';
import { UpstreamError } from '../../src/net/bounded-fetch.ts';
import { MemoryReplayStore } from '../../src/store/memory.ts';
import { PACKAGE_VERSION } from '../../src/version.ts';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { signN8nAssertion } from '../workers/harness/n8n-assertion.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';
import { postToken } from '../support/http.ts';
import { sample, scrape, type Samples } from '../support/prometheus.ts';

let sb: Sandbox;
beforeAll(async () => {
  sb = await startSandbox({ port: 0, audit: () => {} });
});
afterAll(async () => {
  await sb?.close();
});

const delta = (before: Samples, after: Samples, name: string, labels: Record<string, string> = {}) =>
  sample(after, name, labels) - sample(before, name, labels);

describe('issue 9 item 4: metrics', () => {
  it('issue 9 item 4: /metrics after a known sequence of exchanges shows the exact counter deltas', async () => {
    const before = await scrape(`${sb.url}/metrics`);
    expect(before.contentType).toMatch(/^text\/plain; version=0\.0\.4/);

    const proof = await sb.gcp.emulator.mintIdToken({ audience: sb.url, format: 'full' });
    const exchange = (fields: Record<string, string>) =>
      postToken(sb.url, {
        subject_token: proof,
        subject_token_type: TOKEN_TYPE.idToken,
        resource: SANDBOX.graph,
        ...fields,
      });
    // 1: a cold exchange (verify the proof, leg 1, leg 2); 2: the same again, from the caches;
    // 3: a resource the policy does not allow; 4: a grant type the bridge does not take.
    expect((await exchange({})).status).toBe(200);
    expect((await exchange({})).status).toBe(200);
    expect((await exchange({ resource: 'https://vault.azure.net' })).status).toBe(400);
    expect((await exchange({ grant_type: 'client_credentials' })).status).toBe(400);

    const after = await scrape(`${sb.url}/metrics`);
    const d = (name: string, labels: Record<string, string> = {}) => delta(before.samples, after.samples, name, labels);
    expect(
      d('bridge_exchanges_total', { platform: 'gcp', mode: 'autonomous', outcome: 'issued', reason: 'none' }),
    ).toBe(2);
    expect(
      d('bridge_exchanges_total', {
        platform: 'gcp',
        mode: 'autonomous',
        outcome: 'denied',
        reason: 'resource_not_allowed',
      }),
    ).toBe(1);
    expect(
      d('bridge_exchanges_total', {
        platform: 'none',
        mode: 'none',
        outcome: 'denied',
        reason: 'unsupported_grant_type',
      }),
    ).toBe(1);
    expect(d('bridge_entra_requests_total', { leg: 'leg1', result: 'success', aadsts: 'none' })).toBe(1);
    expect(d('bridge_entra_requests_total', { leg: 'leg2', result: 'success', aadsts: 'none' })).toBe(1);
    expect(d('bridge_entra_request_duration_seconds_count', { leg: 'leg1' })).toBe(1);
    expect(d('bridge_entra_request_duration_seconds_count', { leg: 'leg2' })).toBe(1);
    // The proof verified once (its issuer's keys fetched once); exchanges 2 and 3 recalled it.
    expect(d('bridge_upstream_request_duration_seconds_count', { upstream: 'jwks', result: 'success' })).toBe(1);
    expect(d('bridge_cache_misses_total', { cache: 'verified_proof' })).toBe(1);
    expect(d('bridge_cache_hits_total', { cache: 'verified_proof' })).toBe(2);
    expect(d('bridge_cache_misses_total', { cache: 'entra_token' })).toBe(1);
    expect(d('bridge_cache_hits_total', { cache: 'entra_token' })).toBe(1);
    expect(d('bridge_cache_misses_total', { cache: 'entra_t1' })).toBe(1);
    expect(d('bridge_cache_hits_total', { cache: 'entra_t1' })).toBe(0);
    expect(sample(after.samples, 'bridge_build_info', { version: PACKAGE_VERSION, commit: 'unknown' })).toBe(1);

    // Cardinality and privacy: nothing that names a caller, an agent, a tenant or a token.
    for (const secretish of [
      SANDBOX.agentId,
      SANDBOX.tenantId,
      SANDBOX.blueprintId,
      proof,
      proof.split('.')[1]!,
      'eyJ',
    ])
      expect(after.text).not.toContain(secretish);
  });

  it('issue 9 item 4: a replay store that cannot answer is counted by store and condition', async () => {
    const small = await startSandbox({
      port: 0,
      audit: () => {},
      replay: new MemoryReplayStore(undefined, { maxEntries: 1 }),
    });
    try {
      const n8n = small.manifest.n8n as { instanceId: string; workflowId: string; privateJwk: Record<string, string> };
      const exchange = async () =>
        postToken(small.url, {
          subject_token: await signN8nAssertion({ ...n8n, audience: `${small.url}/token` }),
          subject_token_type: TOKEN_TYPE.jwt,
          resource: SANDBOX.graph,
        });
      const before = await scrape(`${small.url}/metrics`);
      expect((await exchange()).status).toBe(200);
      expect((await exchange()).status).toBe(503);
      const after = await scrape(`${small.url}/metrics`);
      expect(
        delta(before.samples, after.samples, 'bridge_store_errors_total', { store: 'replay', condition: 'full' }),
      ).toBe(1);
      expect(
        delta(before.samples, after.samples, 'bridge_exchanges_total', {
          platform: 'n8n',
          mode: 'autonomous',
          outcome: 'error',
          reason: 'replay_store_unavailable',
        }),
      ).toBe(1);
      expect(
        delta(before.samples, after.samples, 'bridge_exchanges_total', {
          platform: 'n8n',
          mode: 'autonomous',
          outcome: 'issued',
          reason: 'none',
        }),
      ).toBe(1);
    } finally {
      await small.close();
    }
  });

  it('issue 9 item 4: an Entra failure is labelled by result, and its AADSTS code only when on the allow-list', () => {
    const refused = (aadsts?: string, status = 400) =>
      new EntraHttpError({ status, error: 'invalid_request', summary: 's', ...(aadsts ? { aadsts } : {}) });
    expect(aadstsLabel(refused('700213'))).toBe('700213');
    expect(aadstsLabel(refused('9999999'))).toBe('other');
    expect(aadstsLabel(refused())).toBe('none');
    expect(aadstsLabel(new Error('x'))).toBe('none');
    expect(entraResultOf(refused('700213'))).toBe('rejected');
    expect(entraResultOf(refused(undefined, 429))).toBe('throttled');
    expect(entraResultOf(refused(undefined, 503))).toBe('server_error');
    expect(entraResultOf(new UpstreamError('timeout', 'login.example', 'slow'))).toBe('timeout');
    expect(entraResultOf(new UpstreamError('network', 'login.example', 'down'))).toBe('network');
  });
});
