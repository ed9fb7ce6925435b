/**
 * The memory figure of `npm run bench` (./bench.ts forks it with --expose-gc): the bridge's agent-token
 * service filled with `entries` distinct (agent, resource) tokens, each the size of a token the
 * Entra emulator issues (`tokenChars`), and the RSS and heap it takes, measured after a collection.
 * Entra is a stub here (the cold scenario measures the real legs): what is measured is what the
 * bridge keeps, not what producing it cost. Sends `{ entries, rssBeforeMiB, rssAfterMiB, heapBeforeMiB, heapAfterMiB, cached }`.
 */
import { randomBytes } from 'node:crypto';
import { AgentTokenService } from '../../src/entra/client.ts';
import type { EntraToken, EntraTransport } from '../../src/entra/types.ts';
import { TOKEN_RENEW_BEFORE_EXPIRY_SEC } from '../../src/constants.ts';

const [entriesArg = '10000', tokenCharsArg = '2000'] = process.argv.slice(2);
const entries = Number(entriesArg);
const tokenChars = Number(tokenCharsArg);
const RESOURCES = ['https://graph.microsoft.com', 'api://sandbox-api'];
const agents = Math.ceil(entries / RESOURCES.length);

const now = () => Math.floor(Date.now() / 1000);
/**
 * A token of the emulator's size with content of its own (random base64url, as a JWT's is): a
 * padded string would share its filler with every other token and make the cache look free.
 */
const token = (): EntraToken => ({
  accessToken: randomBytes(Math.ceil((tokenChars * 3) / 4))
    .toString('base64url')
    .slice(0, tokenChars),
  expiresAt: now() + 3600,
  correlationId: crypto.randomUUID(),
});
const transport = {
  name: 'stub',
  blueprintExchangeToken: async () => token(),
  agentClientCredentials: async () => token(),
} as unknown as EntraTransport;
const newService = () =>
  new AgentTokenService({
    transport,
    mintAssertion: async () => 'assertion',
    fic: { issuer: 'http://127.0.0.1', audience: 'api://AzureADTokenExchange' },
    clock: now,
    renewBeforeSec: TOKEN_RENEW_BEFORE_EXPIRY_SEC,
    retry: { attempts: 1, baseDelayMs: 0, maxInlineRetryAfterSec: 0 },
  });

const gc = (globalThis as { gc?: () => void }).gc!;
const MiB = 1024 * 1024;
const measure = () => {
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss / MiB, heap: m.heapUsed / MiB };
};

const agentId = (i: number) => `a9e0c000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
async function fill(service: AgentTokenService): Promise<number> {
  let cached = 0;
  for (let i = 0; i < agents; i++) {
    for (const resource of RESOURCES) {
      if (cached >= entries) break;
      await service.acquire({
        tenantId: 't',
        blueprintId: 'b',
        ficSubject: 's',
        agentId: agentId(i),
        mode: 'autonomous',
        scopes: [`${resource}/.default`],
        correlationId: crypto.randomUUID(),
      });
      cached++;
    }
  }
  return cached;
}

// A process that has served traffic has grown its young generation and compiled its code paths: a
// first service, filled the same way and then dropped, brings this one there before it is measured.
await fill(newService());
const before = measure();
const service = newService();
const cached = await fill(service);
const after = measure();
// The service is used after the measurement, so it is alive during it (V8 may collect an unused one),
// and that use must be a cache hit.
const again = await service.acquire({
  tenantId: 't',
  blueprintId: 'b',
  ficSubject: 's',
  agentId: agentId(0),
  mode: 'autonomous',
  scopes: [`${RESOURCES[0]}/.default`],
  correlationId: 'c',
});
if (!again.fromCache) throw new Error('the first entry was not cached');
process.send!({
  entries: cached,
  agents,
  rssBeforeMiB: before.rss,
  rssAfterMiB: after.rss,
  heapBeforeMiB: before.heap,
  heapAfterMiB: after.heap,
});
process.exit(0);
