import net from 'node:net';
import { describe, expect, it } from 'vitest';

function causeChain(e: unknown): string {
  const parts: string[] = [];
  for (let cur = e as { message?: string; cause?: unknown } | undefined; cur; cur = cur.cause as typeof cur)
    parts.push(String(cur.message));
  return parts.join(' <- ');
}

describe('the test suite reaches loopback only (test/support/loopback-only.ts)', () => {
  it('refuses fetch to a public host and to the cloud metadata address, by the guard itself', async () => {
    for (const url of [
      'https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration',
      'http://169.254.169.254/latest/meta-data/',
    ]) {
      const err = await fetch(url).catch((e: unknown) => e);
      expect(causeChain(err)).toMatch(/tests may only use loopback/);
    }
  });

  it('refuses a raw socket to a non-loopback address, and allows loopback', async () => {
    expect(() => net.connect({ host: '10.0.0.1', port: 80 })).toThrow(/tests may only use loopback/);
    const server = net.createServer((s) => s.end()).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve, reject) =>
      net
        .connect({ host: '127.0.0.1', port })
        .once('connect', function (this: net.Socket) {
          this.destroy();
          resolve();
        })
        .once('error', reject),
    );
    server.close();
  });
});
