/**
 * The Node server against raw sockets (node:net): a refused body does not cost the next request
 *, slowly sent requests have deadlines and connections are capped, and a client
 * that goes away mid-body is audited as such.
 */
import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/audit.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, MAX_FORM_BODY_BYTES, TOKEN_TYPE } from '../../src/constants.ts';
import { listen } from '../../src/node.ts';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';

let sb: Sandbox;
let port: number;
const audit: AuditEvent[] = [];

beforeAll(async () => {
  sb = await startSandbox({ port: 0, audit: (e) => audit.push(e) });
  port = Number(new URL(sb.url).port);
});
afterAll(async () => sb?.close());
beforeEach(() => {
  audit.length = 0;
});

/** A raw client that records what it reads and how the connection ended. */
function rawClient(p: number) {
  const socket = net.connect({ port: p, host: '127.0.0.1', allowHalfOpen: true });
  const state = { text: '', ended: false, closed: false, error: undefined as string | undefined };
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (state.text += d));
  socket.on('end', () => (state.ended = true));
  socket.on('close', () => (state.closed = true));
  socket.on('error', (e) => (state.error = (e as NodeJS.ErrnoException).code ?? e.message));
  const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, state, connected };
}

/** Poll (bounded) until `done()`; the test fails on its own assertions if it never happens. */
async function until(done: () => boolean, maxMs = 5_000): Promise<void> {
  for (let waited = 0; waited < maxMs && !done(); waited += 10) await new Promise((r) => setTimeout(r, 10));
}

const CHUNK = 'a'.repeat(16 * 1024);
const chunk = () => `${CHUNK.length.toString(16)}\r\n${CHUNK}\r\n`;

describe('a refused body does not cost the next request (issue 8 item 13)', () => {
  it('issue 8 item 13: a 413 for an oversized chunked body on a keep-alive connection says Connection: close and closes cleanly', async () => {
    const { socket, state, connected } = rawClient(port);
    await connected;
    socket.write(
      'POST /token HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n',
    );
    const over = Math.ceil(MAX_FORM_BODY_BYTES / CHUNK.length) + 1;
    for (let i = 0; i < over; i++) socket.write(chunk());
    await until(() => state.text.includes('\r\n\r\n{'));
    const head = state.text.slice(0, state.text.indexOf('\r\n\r\n')).toLowerCase();
    expect(head).toMatch(/^http\/1\.1 413 /);
    expect(head).toMatch(/\r\nconnection: close\r\n/);
    // The client finishes sending its body, as a real one would: the server reads and discards it
    // and half-closes, so the client sees an orderly end and the answer, not a reset.
    for (let i = 0; i < 4; i++) socket.write(chunk());
    socket.write('0\r\n\r\n');
    await until(() => state.ended);
    expect(state.ended).toBe(true);
    expect(state.error).toBeUndefined();
    expect(JSON.parse(state.text.slice(state.text.indexOf('\r\n\r\n') + 4))).toMatchObject({
      error: 'invalid_request',
    });
    expect(audit.at(-1)?.reason).toBe('body_too_large');
    socket.destroy();
  });

  it('issue 8 item 13: a 413 for a declared oversized Content-Length also closes the connection', async () => {
    const { socket, state, connected } = rawClient(port);
    await connected;
    socket.write(
      `POST /token HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${MAX_FORM_BODY_BYTES + 1}\r\n\r\ngrant_type=`,
    );
    await until(() => state.ended);
    expect(state.text.toLowerCase()).toMatch(/^http\/1\.1 413 [^]*\r\nconnection: close\r\n/);
    expect(state.error).toBeUndefined();
    socket.destroy();
  });

  it('a request whose body was read completely keeps its connection alive', async () => {
    const { socket, state, connected } = rawClient(port);
    await connected;
    socket.write(
      'POST /token HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 12\r\n\r\ngrant_type=x',
    );
    await until(() => state.text.includes('\r\n\r\n{') && state.text.endsWith('}'));
    socket.write('GET /healthz HTTP/1.1\r\nHost: bridge\r\n\r\n');
    await until(() => (state.text.match(/HTTP\/1\.1 /g) ?? []).length === 2 && state.text.endsWith('}'));
    expect(state.text.match(/HTTP\/1\.1 \d+/g)).toEqual(['HTTP/1.1 400', 'HTTP/1.1 200']);
    socket.destroy();
  });
});

describe('slow and vanishing clients (issue 8 item 11)', () => {
  it('issue 8 item 11: a client that goes away mid-body is audited as client_aborted, not internal_error', async () => {
    const { socket, connected } = rawClient(port);
    await connected;
    socket.write(
      'POST /token HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ngrant_type=',
    );
    await until(() => false, 100);
    socket.destroy();
    await until(() => audit.length > 0);
    expect(audit.at(-1)).toMatchObject({ route: '/token', reason: 'client_aborted', outcome: 'denied' });
  });

  it('issue 8 item 11: the Node server has header and request deadlines and a connection cap: connections over it are closed at once, the ones held stay served', async () => {
    const running = await listen('127.0.0.1', 0, () => new Response('ok'), { maxConnections: 2 });
    const clients: ReturnType<typeof rawClient>[] = [];
    try {
      expect(running.server.maxConnections).toBe(2);
      expect((running.server as { headersTimeout: number }).headersTimeout).toBeLessThanOrEqual(10_000);
      expect((running.server as { requestTimeout: number }).requestTimeout).toBeLessThanOrEqual(15_000);
      const held = [rawClient(running.port), rawClient(running.port)];
      clients.push(...held);
      await Promise.all(held.map((c) => c.connected));
      // Slow clients: headers started, never finished.
      for (const c of held) c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
      await until(() => false, 50);
      const extra = rawClient(running.port);
      clients.push(extra);
      await until(() => extra.state.ended || extra.state.closed);
      expect(extra.state.ended || extra.state.closed).toBe(true);
      expect(extra.state.text).toBe('');
      // The held connections are still open and are answered once they finish their request.
      held[0]!.socket.write('\r\n');
      await until(() => held[0]!.state.text.includes('ok'));
      expect(held[0]!.state.text).toMatch(/^HTTP\/1\.1 200 /);
    } finally {
      for (const c of clients) c.socket.destroy();
      await running.close();
    }
  });
});

describe("the decision routes' answers on the wire (issue 12)", () => {
  /** Sends one request on a raw socket and returns the head's lines (lower-cased) and the body. */
  async function exchangeOnTheWire(form: Record<string, string>) {
    const { socket, state, connected } = rawClient(port);
    await connected;
    const body = new URLSearchParams(form).toString();
    socket.write(
      `POST /token HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    await until(() => {
      const end = state.text.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: (\d+)/i.exec(state.text)?.[1];
      return end !== -1 && length !== undefined && state.text.length >= end + 4 + Number(length);
    });
    socket.destroy();
    const end = state.text.indexOf('\r\n\r\n');
    const lines = state.text.slice(0, end).toLowerCase().split('\r\n');
    return { status: lines[0]!, lines, body: JSON.parse(state.text.slice(end + 4)) as Record<string, unknown> };
  }

  it('issue 12: a served exchange and a refusal each carry JSON, no-store, no-cache, their request id and a length, on a connection kept open', async () => {
    const token = await sb.gcp.emulator.mintIdToken({ audience: sb.url, format: 'full', claims: {} });
    const served = await exchangeOnTheWire({
      grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
      subject_token: token,
      subject_token_type: TOKEN_TYPE.idToken,
      resource: SANDBOX.graph,
    });
    const refused = await exchangeOnTheWire({
      grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
      subject_token: `${token}x`,
      subject_token_type: TOKEN_TYPE.idToken,
      resource: SANDBOX.graph,
    });
    expect(served.status).toBe('http/1.1 200 ok');
    expect(served.body).toMatchObject({ token_type: 'Bearer', issued_token_type: TOKEN_TYPE.accessToken });
    expect(refused.status).toMatch(/^http\/1\.1 4\d\d /);
    expect(refused.body.error).toEqual(expect.any(String));
    for (const answer of [served, refused]) {
      expect(answer.lines).toContain('content-type: application/json');
      expect(answer.lines).toContain('cache-control: no-store');
      expect(answer.lines).toContain('pragma: no-cache');
      expect(answer.lines.some((l) => l.startsWith('content-length: '))).toBe(true);
      expect(answer.lines).not.toContain('connection: close');
      // One header per name: nothing written twice in two spellings.
      const names = answer.lines.slice(1).map((l) => l.slice(0, l.indexOf(':')));
      expect(new Set(names).size).toBe(names.length);
    }
    const ids = [served, refused].map((a) => a.lines.find((l) => l.startsWith('x-request-id: '))?.slice(14));
    await until(() => ids.every((id) => audit.some((e) => e.request_id === id)));
    expect(ids.map((id) => audit.find((e) => e.request_id === id)?.outcome)).toEqual(['issued', 'denied']);
    expect(refused.body.request_id).toBe(ids[1]);
  });
});
