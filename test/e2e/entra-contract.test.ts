/**
 * The shared Entra-client contract (./entra-contract.suite.ts) on Node, for both transports: the
 * sandbox bridge serves the discovery + JWKS the emulator fetches; its keys sign our assertions.
 * The Worker's transport runs the same suite inside workerd (test/workers/entra-contract.test.ts).
 */
import { afterAll, beforeAll } from 'vitest';
import { createFetchTransport } from '../../src/entra/transport-fetch.ts';
import { createMsalTransport } from '../../src/entra/transport-msal.ts';
import { createBoundedFetch } from '../../src/net/bounded-fetch.ts';
import { startSandbox, type Sandbox } from '../../sandbox/sandbox.ts';
import { describeEntraContract, type TransportMaker } from './entra-contract.suite.ts';

let sb: Sandbox;
beforeAll(async () => {
  sb = await startSandbox({ port: 0, audit: () => {} });
});
afterAll(async () => sb?.close());

const transports: [string, TransportMaker][] = [
  [
    'msal-node',
    (endpoint, timeoutMs = 2000) =>
      createMsalTransport({ endpoint, fetch: createBoundedFetch({ allowInsecureLoopback: true }), timeoutMs }),
  ],
  [
    'fetch',
    (endpoint, timeoutMs = 2000) =>
      createFetchTransport({ endpoint, fetch: createBoundedFetch({ allowInsecureLoopback: true }), timeoutMs }),
  ],
];

describeEntraContract(transports, { entraUrl: () => sb.entra.url, issuer: () => sb.url, keys: () => sb.deps.keys });
