/**
 * One floor of `npm run bench` (./bench.ts forks it, one process per floor): the cheapest Hono
 * endpoint that does what the bridge cannot skip, built from the bridge's own dependencies and
 * served the way the bridge is (@hono/node-server on 127.0.0.1).
 *
 *   bare   POST form parsed by Hono, answered with a JSON body of the bridge's size and no-store
 *   rs256  the same plus one jose jwtVerify of subject_token against an RS256 key (a GCP ID token)
 *   es256  the same plus one jose jwtVerify of subject_token against an ES256 key (an n8n assertion)
 *
 * The parent sends `{ kind, body, jwk }` over IPC; the floor answers `{ url }` once it listens,
 * and its RSS and CPU time to `stats`.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { importJWK, jwtVerify, type JWK } from 'jose';
import { NO_STORE } from '../../src/http.ts';
import { serverStats } from './shared.ts';

export type FloorKind = 'bare' | 'rs256' | 'es256';

export interface FloorSetup {
  kind: FloorKind;
  /** The bridge's answer to a served exchange: the floor answers an object of the same size. */
  body: Record<string, unknown>;
  /** The public key the verifying floors check subject_token with. */
  jwk?: JWK;
}

const setup = await new Promise<FloorSetup>((resolve) => process.once('message', (m) => resolve(m as FloorSetup)));
const algorithm = setup.kind === 'rs256' ? 'RS256' : 'ES256';
const key = setup.kind === 'bare' ? undefined : await importJWK(setup.jwk!, algorithm);

const app = new Hono();
app.post('/token', async (c) => {
  const form = await c.req.parseBody();
  if (key !== undefined) {
    const token = form.subject_token;
    if (typeof token !== 'string') return c.json({ error: 'invalid_request' }, 400);
    // Signature, alg allow-list and exp/nbf: what jose does for any verified JWT.
    await jwtVerify(token, key, { algorithms: [algorithm] });
  }
  return c.json(setup.body, 200, NO_STORE);
});
app.onError((_e, c) => c.json({ error: 'invalid_grant' }, 400));

const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => {
  process.send!({ url: `http://127.0.0.1:${info.port}` });
});

process.on('message', (m) => {
  const { type, id } = m as { type?: string; id?: number };
  if (type === 'stats') process.send!({ id, value: serverStats() });
  if (type === 'close') server.close(() => process.exit(0));
});
