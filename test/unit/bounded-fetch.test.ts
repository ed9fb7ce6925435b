import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBoundedFetch, UpstreamError } from '../../src/net/bounded-fetch.ts';

let server: http.Server;
let base: string;
let hits = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    hits++;
    if (req.url === '/redirect') return res.writeHead(302, { location: 'http://169.254.169.254/' }).end();
    if (req.url === '/big-declared') return res.writeHead(200, { 'content-length': '5000' }).end('x'.repeat(5000));
    if (req.url === '/big-chunked') {
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      for (let i = 0; i < 10; i++) res.write('y'.repeat(1000));
      return res.end();
    }
    if (req.url === '/slow') return void setTimeout(() => res.end('late'), 500);
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const kind = async (p: Promise<unknown>) => {
  const e = await p.catch((err: unknown) => err);
  expect(e).toBeInstanceOf(UpstreamError);
  return (e as UpstreamError).kind;
};

describe('bounded fetch: the only way out', () => {
  const f = createBoundedFetch({ allowInsecureLoopback: true });

  it('reads a small answer', async () => {
    expect((await f(`${base}/`, { timeoutMs: 1000, maxBytes: 100 })).text).toBe('ok');
  });

  it('never follows a redirect', async () => {
    expect(await kind(f(`${base}/redirect`, { timeoutMs: 1000, maxBytes: 100 }))).toBe('redirect');
  });

  it('caps the answer, declared or streamed', async () => {
    expect(await kind(f(`${base}/big-declared`, { timeoutMs: 1000, maxBytes: 4096 }))).toBe('too_large');
    expect(await kind(f(`${base}/big-chunked`, { timeoutMs: 1000, maxBytes: 4096 }))).toBe('too_large');
  });

  it('times out', async () => {
    expect(await kind(f(`${base}/slow`, { timeoutMs: 100, maxBytes: 100 }))).toBe('timeout');
  });

  it('refuses plain http without the loopback allowance, and http to non-loopback hosts always, before connecting', async () => {
    const before = hits;
    expect(await kind(createBoundedFetch()(`${base}/`, { timeoutMs: 1000, maxBytes: 100 }))).toBe('scheme_not_allowed');
    expect(await kind(f('http://login.example.com/', { timeoutMs: 1000, maxBytes: 100 }))).toBe('scheme_not_allowed');
    expect(await kind(f('http://127.evil.example/', { timeoutMs: 1000, maxBytes: 100 }))).toBe('scheme_not_allowed');
    expect(await kind(f('ftp://127.0.0.1/', { timeoutMs: 1000, maxBytes: 100 }))).toBe('scheme_not_allowed');
    expect(hits).toBe(before);
  });
});
