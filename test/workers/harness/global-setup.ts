/**
 * Vitest global setup of the Workers tests, run in Node before workerd starts: the emulators
 * (./stack.ts) on 127.0.0.1, the Worker's bindings, and two helper servers, all handed to the
 * tests and to the plugin's Miniflare options with `project.provide()`.
 *
 * The issuer's front door: Entra (here its emulator) fetches <issuer>/.well-known/openid-configuration
 * and the JWKS it names over HTTP to check the bridge's assertions. A Worker under the Vitest plugin
 * listens on no port, so this server serves exactly those two documents, derived from the signing key
 * the Worker gets as its BRIDGE_SIGNING_KEY binding. It stands in for the custom domain in front of
 * the deployed Worker (the smoke test, test/workers/smoke.ts, uses the real thing: wrangler dev).
 */
import type { TestProject } from 'vitest/node';
import { discoveryDocument, jwksDocument } from '../../../src/issuer/documents.ts';
import { generateSigningKeyJwk, loadIssuerKeys } from '../../../src/issuer/keys.ts';
import { listen } from '../../../src/node.ts';
import { startWorkerStack } from './stack.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const closers: (() => Promise<void>)[] = [];
  const teardown = async () => {
    await Promise.all(closers.reverse().map((c) => c().catch(() => {})));
  };
  try {
    const signingKey = await generateSigningKeyJwk();
    const documents: { discovery?: unknown; jwks?: unknown } = {};
    const frontDoor = await listen('127.0.0.1', 0, (req) => {
      const path = new URL(req.url).pathname;
      if (req.method === 'GET' && path === '/.well-known/openid-configuration' && documents.discovery)
        return Response.json(documents.discovery);
      if (req.method === 'GET' && path === '/.well-known/jwks.json' && documents.jwks)
        return Response.json(documents.jwks);
      return new Response('not here: this stand-in serves only the issuer documents\n', { status: 404 });
    });
    closers.push(frontDoor.close);
    const issuer = frontDoor.url;
    documents.discovery = discoveryDocument(issuer);
    documents.jwks = jwksDocument(await loadIssuerKeys({ option: 'BRIDGE_SIGNING_KEY', material: signingKey }));

    const stack = await startWorkerStack({ issuer, signingKey });
    closers.push(stack.close);

    // The AWS workload: its proofs are made with the AWS SDK and @smithy signer in Node, as on Lambda.
    const workload = await listen('127.0.0.1', 0, async (req) => {
      try {
        return await workloadRoute(req);
      } catch (e) {
        return new Response(`workload stand-in failed: ${(e as Error).message}\n`, { status: 500 });
      }
    });
    async function workloadRoute(req: Request): Promise<Response> {
      const path = new URL(req.url).pathname;
      const body = req.method === 'POST' ? ((await req.json().catch(() => ({}))) as Record<string, string>) : {};
      if (path === '/aws/get-caller-identity') return Response.json({ proof: await stack.awsGetCallerIdentity(body) });
      if (path === '/aws/web-identity-token')
        return Response.json({
          token: await stack.awsWebIdentityToken(body as { audience?: string; alg?: 'RS256' | 'ES384' }),
        });
      if (path === '/aws/calls' && req.method === 'GET') return Response.json(stack.aws.emulator.calls);
      if (path === '/aws/calls' && req.method === 'DELETE') {
        stack.aws.emulator.resetCalls();
        return new Response(null, { status: 204 });
      }
      return new Response('not found\n', { status: 404 });
    }
    closers.push(workload.close);

    project.provide('workerBindings', stack.bindings);
    project.provide('stack', { ...stack.info, workloadUrl: workload.url });
    return teardown;
  } catch (e) {
    await teardown();
    throw e;
  }
}
