/**
 * The shared Entra-client contract (test/e2e/entra-contract.suite.ts) against what ships on Workers:
 * the fetch transport, inside workerd, through the same bounded fetch, talking to the Entra emulator.
 */
import { env } from 'cloudflare:workers';
import { beforeAll } from 'vitest';
import { createFetchTransport } from '../../src/entra/transport-fetch.ts';
import { loadIssuerKeys, type IssuerKeys } from '../../src/issuer/keys.ts';
import { createBoundedFetch } from '../../src/net/bounded-fetch.ts';
import { describeEntraContract } from '../e2e/entra-contract.suite.ts';
import { stack } from './support/bridge.ts';

let keys: IssuerKeys;
beforeAll(async () => {
  // The very key the Worker signs with (its BRIDGE_SIGNING_KEY binding), published at the issuer.
  keys = await loadIssuerKeys({ option: 'BRIDGE_SIGNING_KEY', material: String(env.BRIDGE_SIGNING_KEY) });
});

describeEntraContract(
  [
    [
      'fetch (workerd)',
      (endpoint, timeoutMs = 2000) =>
        createFetchTransport({ endpoint, fetch: createBoundedFetch({ allowInsecureLoopback: true }), timeoutMs }),
    ],
  ],
  { entraUrl: () => stack.entraUrl, issuer: () => stack.issuer, keys: () => keys },
);
