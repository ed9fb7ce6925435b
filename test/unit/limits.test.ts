/**
 * Issue 8 item 11, "cheap and bounded before expensive": the window counter behind every rate
 * limit, the per-principal limiter's hard key cap, client addresses, and the admission guard that
 * runs before a proof is verified.
 */
import { describe, expect, it } from 'vitest';
import { BridgeError } from '../../src/errors.ts';
import { AdmissionGuard, routingKeyOf } from '../../src/limits/admission.ts';
import { clientKey, forwardedClientAddress } from '../../src/limits/client-address.ts';
import { MemoryRateLimiter } from '../../src/limits/rate-limiter.ts';
import { WindowCounter } from '../../src/limits/window-counter.ts';
import { StoreUnavailableError } from '../../src/store/ports.ts';
import { BodyDeadlineError, readCapped } from '../../src/util/read-capped.ts';
import { readStrictForm } from '../../src/token/form.ts';

async function refusal(p: Promise<unknown>): Promise<BridgeError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof BridgeError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('window counter', () => {
  it('issue 8 item 11: a new window starts with an empty table (nothing is walked or kept)', () => {
    const c = new WindowCounter({ limit: 5, maxKeys: 10 });
    for (let i = 0; i < 10; i++) c.hit(`k${i}`, 6000);
    expect(c.size).toBe(10);
    expect(c.hit('late', 6059)).toMatchObject({ allowed: false, full: true, retryAfterSec: 1 });
    expect(c.hit('late', 6060)).toEqual({ allowed: true, count: 1 });
    expect(c.size).toBe(1);
  });

  it('issue 8 item 11: a key over its limit stays refused even while new keys flood the table', () => {
    const c = new WindowCounter({ limit: 2, maxKeys: 3 });
    c.hit('busy', 6000);
    c.hit('busy', 6000);
    for (let i = 0; i < 100; i++) c.hit(`new${i}`, 6001);
    expect(c.hit('busy', 6002)).toMatchObject({ allowed: false, full: false });
  });
});

describe('per-principal rate limiter', () => {
  it('issue 8 item 11: holds at most maxKeys principals per window; a new one is refused as full (503), counted ones go on', async () => {
    const now = 6000;
    const r = new MemoryRateLimiter(5, () => now, 3);
    for (const k of ['a', 'b', 'c']) expect(await r.hit(k)).toEqual({ allowed: true });
    const full = await r.hit('d').catch((e: unknown) => e);
    expect(full).toBeInstanceOf(StoreUnavailableError);
    expect(full).toMatchObject({ store: 'rate-limit', condition: 'full', retryAfterSec: 60 });
    expect(await r.hit('a')).toEqual({ allowed: true });
  });
});

describe('client address', () => {
  it('issue 8 item 11: IPv6 clients are counted per /64, IPv4-mapped addresses as IPv4', () => {
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:0db8:0000:0002::9')).toBe('2001:db8:0:2::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey('192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey(undefined)).toBe('unknown');
  });

  it('issue 8 item 11: X-Forwarded-For is ignored unless proxies are trusted, and then only the trusted hops are read', () => {
    expect(forwardedClientAddress('10.0.0.9', '198.51.100.1', 0)).toBe('10.0.0.9');
    // One trusted proxy appended the client it saw; whatever the client wrote before that is not believed.
    expect(forwardedClientAddress('10.0.0.9', '6.6.6.6, 198.51.100.1', 1)).toBe('198.51.100.1');
    expect(forwardedClientAddress('10.0.0.9', '6.6.6.6, 198.51.100.1, 10.0.0.5', 2)).toBe('198.51.100.1');
    // Fewer entries than trusted hops: the request bypassed a proxy; the peer is the client.
    expect(forwardedClientAddress('10.0.0.9', '198.51.100.1', 2)).toBe('10.0.0.9');
    expect(forwardedClientAddress('10.0.0.9', 'not an address', 1)).toBe('10.0.0.9');
  });
});

describe('admission guard (before verification)', () => {
  const limits = {
    clientPerMinute: 2,
    credentialPerMinute: 100,
    issuerPerMinute: 3,
    maxConcurrentVerifications: 2,
    maxKeys: 100,
  };
  const ok = () => Promise.resolve('verified');

  it('issue 8 item 11: one client address gets a bounded number of verifications per minute (client_rate_limited, 429)', async () => {
    let calls = 0;
    const g = new AdmissionGuard(limits, () => 6000);
    const verify = () => {
      calls++;
      return ok();
    };
    await g.verify({ address: '192.0.2.1' }, 'aws:sts', verify);
    await g.verify({ address: '192.0.2.1' }, 'aws:sts', verify);
    const e = await refusal(g.verify({ address: '192.0.2.1' }, 'aws:sts', verify));
    expect(e.reason).toBe('client_rate_limited');
    expect(e.retryAfterSec).toBe(60);
    expect(calls).toBe(2);
    // Another address is not affected.
    await expect(g.verify({ address: '192.0.2.2' }, 'aws:sts', verify)).resolves.toBe('verified');
  });

  it('issue 8 item 11: an issuer gets a bounded number of verifications per minute, and a refused client does not use it up', async () => {
    const g = new AdmissionGuard(limits, () => 6000);
    await g.verify({ address: '192.0.2.1' }, 'gcp:https://accounts.google.com', ok);
    await g.verify({ address: '192.0.2.1' }, 'gcp:https://accounts.google.com', ok);
    expect((await refusal(g.verify({ address: '192.0.2.1' }, 'gcp:https://accounts.google.com', ok))).reason).toBe(
      'client_rate_limited',
    );
    await g.verify({ address: '192.0.2.2' }, 'gcp:https://accounts.google.com', ok);
    expect((await refusal(g.verify({ address: '192.0.2.3' }, 'gcp:https://accounts.google.com', ok))).reason).toBe(
      'issuer_rate_limited',
    );
    await expect(g.verify({ address: '192.0.2.3' }, 'n8n:https://n8n.example.net', ok)).resolves.toBe('verified');
  });

  it('issue 8 item 11: one signing credential gets a bounded number of verifications per minute from any address (credential_rate_limited), before the issuer budget', async () => {
    const g = new AdmissionGuard(
      { ...limits, clientPerMinute: 100, credentialPerMinute: 2, issuerPerMinute: 5 },
      () => 6000,
    );
    await g.verify({ address: '192.0.2.1' }, 'aws:sts', ok, 'ASIAONE0000000000000');
    await g.verify({ address: '192.0.2.2' }, 'aws:sts', ok, 'ASIAONE0000000000000');
    for (const address of ['192.0.2.3', '192.0.2.4', '192.0.2.5']) {
      expect((await refusal(g.verify({ address }, 'aws:sts', ok, 'ASIAONE0000000000000'))).reason).toBe(
        'credential_rate_limited',
      );
    }
    // The refused ones did not spend the issuer's budget: three more credentials still fit.
    for (const key of ['ASIATWO0000000000000', 'ASIATHREE00000000000', 'ASIAFOUR000000000000'])
      await g.verify({ address: '192.0.2.6' }, 'aws:sts', ok, key);
    expect((await refusal(g.verify({ address: '192.0.2.6' }, 'aws:sts', ok, 'ASIAFIVE000000000000'))).reason).toBe(
      'issuer_rate_limited',
    );
  });

  it('issue 8 item 11: verifications in flight are capped per issuer (verification_busy, 503 with Retry-After), other issuers keep their slots, slots are freed after failures', async () => {
    const g = new AdmissionGuard({ ...limits, clientPerMinute: 100, issuerPerMinute: 100 }, () => 6000);
    const release: (() => void)[] = [];
    const held = () => new Promise<string>((resolve) => release.push(() => resolve('late')));
    const first = g.verify({ address: 'a' }, 'k', held);
    const second = g.verify({ address: 'b' }, 'k', () => held().then(() => Promise.reject(new Error('upstream down'))));
    expect(g.inFlight('k')).toBe(2);
    const busy = await refusal(g.verify({ address: 'c' }, 'k', ok));
    expect(busy.reason).toBe('verification_busy');
    expect(busy.retryAfterSec).toBeGreaterThan(0);
    await expect(g.verify({ address: 'c' }, 'other-issuer', ok)).resolves.toBe('verified');
    for (const r of release) r();
    await first;
    await expect(second).rejects.toThrow('upstream down');
    expect(g.inFlight()).toBe(0);
    await expect(g.verify({ address: 'c' }, 'k', ok)).resolves.toBe('verified');
  });

  it('issue 8 item 11: a full client table refuses new addresses with a reason of its own (rate_limiter_full)', async () => {
    const g = new AdmissionGuard({ ...limits, maxKeys: 2 }, () => 6000);
    await g.verify({ address: '192.0.2.1' }, 'k', ok);
    await g.verify({ address: '192.0.2.2' }, 'k', ok);
    const e = await refusal(g.verify({ address: '192.0.2.3' }, 'k', ok));
    expect(e.reason).toBe('rate_limiter_full');
    expect(e.fields).toMatchObject({ limiter: 'client' });
  });

  it('routes JWTs by platform and unverified issuer, other proofs by token type', () => {
    expect(routingKeyOf('gcp', 'urn:ietf:params:oauth:token-type:id_token', 'https://accounts.google.com')).toBe(
      'gcp:https://accounts.google.com',
    );
    expect(routingKeyOf('aws', 'urn:ietf:params:aws:token-type:aws4_request', undefined)).toBe(
      'aws:urn:ietf:params:aws:token-type:aws4_request',
    );
  });
});

describe('request body deadline', () => {
  /** A body that sends a few bytes and then never ends. */
  const stalled = () =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('grant_type=x'));
      },
    });

  it('issue 8 item 11: a body that does not end within its deadline is cancelled (body_timeout, 408)', async () => {
    await expect(readCapped(stalled(), 1024, { deadlineMs: 20 })).rejects.toBeInstanceOf(BodyDeadlineError);
    const req = new Request('http://bridge/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: stalled(),
      duplex: 'half',
    } as RequestInit);
    const e = await refusal(readStrictForm(req, 1024, 20));
    expect(e.reason).toBe('body_timeout');
  }, 5_000);

  it('issue 12 item 2: a body with a Content-Length is read whole, within the same deadline and the same cap', async () => {
    const form = (body: BodyInit, length: string) =>
      new Request('http://bridge/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': length },
        body,
        duplex: 'half',
      } as RequestInit);
    expect((await readStrictForm(form('grant_type=x&resource=r', '23'), 1024, 1000)).get('resource')).toBe('r');
    expect((await refusal(readStrictForm(form(stalled(), '100'), 1024, 20))).reason).toBe('body_timeout');
    // A Request built in-process may say less than it holds: the cap is checked on what was read.
    expect((await refusal(readStrictForm(form(`grant_type=${'x'.repeat(2000)}`, '10'), 1024, 1000))).reason).toBe(
      'body_too_large',
    );
  }, 5_000);

  it('issue 8 item 11: a body stream that fails (client gone) is client_aborted, not internal_error', async () => {
    const broken = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.error(new Error('aborted'));
      },
    });
    const req = new Request('http://bridge/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: broken,
      duplex: 'half',
    } as RequestInit);
    expect((await refusal(readStrictForm(req))).reason).toBe('client_aborted');
  });
});
