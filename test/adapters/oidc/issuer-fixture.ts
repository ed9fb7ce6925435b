/**
 * A small OIDC issuer for the oidc adapter's tests: discovery at `<issuer>/.well-known/openid-configuration`
 * (OpenID Connect Discovery 1.0 §4) and a JWKS, on 127.0.0.1 with port 0, with keys generated here.
 * Tests rotate keys, count fetches and make the discovery document lie about its issuer. The
 * realistic Kubernetes and GitHub Actions emulators live under test/emulators/.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

export interface FixtureKey {
  kid: string;
  alg: 'RS256' | 'ES256' | 'PS256';
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function fixtureKey(kid: string, alg: FixtureKey['alg'] = 'RS256'): Promise<FixtureKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { kid, alg, privateKey: privateKey as CryptoKey, publicJwk: { ...jwk, kid, alg, use: 'sig' } };
}

export interface IssuerFixture {
  /** The issuer URL: `http://127.0.0.1:<port><path>`. */
  readonly issuer: string;
  readonly jwksUri: string;
  /** Keys served in the JWKS (mutable: rotate by replacing). */
  served: FixtureKey[];
  /** When set, the discovery document names this issuer instead of the real one. */
  discoveryIssuer: string | undefined;
  readonly fetches: { discovery: number; jwks: number };
  sign(
    key: FixtureKey,
    claims: Record<string, unknown>,
    opts?: { header?: Record<string, unknown>; lifetimeSec?: number; iat?: number; omit?: readonly string[] },
  ): Promise<string>;
  close(): Promise<void>;
}

export async function startIssuerFixture(opts: { path?: string; keys: FixtureKey[] }): Promise<IssuerFixture> {
  const path = opts.path ?? '';
  let base = '';
  const state = {
    served: opts.keys,
    discoveryIssuer: undefined as string | undefined,
    fetches: { discovery: 0, jwks: 0 },
  };
  const server: Server = createServer((req, res) => {
    const send = (body: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === `${path}/.well-known/openid-configuration`) {
      state.fetches.discovery++;
      return send({
        issuer: state.discoveryIssuer ?? `${base}${path}`,
        jwks_uri: `${base}${path}/keys`,
        id_token_signing_alg_values_supported: ['RS256', 'ES256'],
      });
    }
    if (req.url === `${path}/keys`) {
      state.fetches.jwks++;
      return send({ keys: state.served.map((k) => k.publicJwk) });
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = `${base}${path}`;
  return {
    issuer,
    jwksUri: `${issuer}/keys`,
    get served() {
      return state.served;
    },
    set served(keys: FixtureKey[]) {
      state.served = keys;
    },
    get discoveryIssuer() {
      return state.discoveryIssuer;
    },
    set discoveryIssuer(v: string | undefined) {
      state.discoveryIssuer = v;
    },
    fetches: state.fetches,
    async sign(key, claims, o = {}) {
      const now = o.iat ?? Math.floor(Date.now() / 1000);
      const payload: Record<string, unknown> = { iss: issuer, iat: now, exp: now + (o.lifetimeSec ?? 300), ...claims };
      for (const name of o.omit ?? []) delete payload[name];
      return new SignJWT(payload)
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...o.header })
        .sign(key.privateKey);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
