import {
  decodeProtectedHeader,
  exportJWK,
  exportPKCS8,
  generateKeyPair,
  jwtVerify,
  createLocalJWKSet,
  calculateJwkThumbprint,
} from 'jose';
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { mintBridgeAssertion } from '../../src/issuer/assertion.ts';
import { discoveryDocument, jwksDocument } from '../../src/issuer/documents.ts';
import { generateSigningKeyJwk, importSigningKey, KeyConfigError, loadIssuerKeys } from '../../src/issuer/keys.ts';

describe('issuer keys, discovery and assertions', () => {
  it('uses the RFC 7638 thumbprint as kid and publishes only the public half with use sig', async () => {
    const keys = await loadIssuerKeys({ option: 'K', material: await generateSigningKeyJwk() });
    const jwks = jwksDocument(keys);
    expect(jwks.keys).toHaveLength(1);
    const k = jwks.keys[0]!;
    expect(k).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB' });
    expect(k).not.toHaveProperty('d');
    expect(k).not.toHaveProperty('p');
    expect(k.kid).toBe(await calculateJwkThumbprint({ kty: 'RSA', n: k.n as string, e: k.e as string }));
  });

  it('publishes current and next key during rotation, and signs with the current one', async () => {
    const keys = await loadIssuerKeys(
      { option: 'A', material: await generateSigningKeyJwk() },
      { option: 'B', material: await generateSigningKeyJwk() },
    );
    expect(jwksDocument(keys).keys.map((k) => k.kid)).toEqual([keys.current.kid, keys.next!.kid]);
    const jwt = await mintBridgeAssertion(keys, {
      issuer: 'https://bridge.example.com',
      subject: 'agent-id-bridge:bp',
      audience: 'api://AzureADTokenExchange',
      now: 1_800_000_000,
    });
    expect(decodeProtectedHeader(jwt)).toEqual({ alg: 'RS256', typ: 'JWT', kid: keys.current.kid });
  });

  it('mints a fresh assertion with exactly the claims Entra matches (docs/architecture.md#the-leg-1-assertion)', async () => {
    const keys = await loadIssuerKeys({ option: 'K', material: await generateSigningKeyJwk() });
    const now = Math.floor(Date.now() / 1000);
    const a = await mintBridgeAssertion(keys, {
      issuer: 'https://bridge.example.com',
      subject: 'agent-id-bridge:bp',
      audience: 'api://AzureADTokenExchange',
      now,
    });
    const b = await mintBridgeAssertion(keys, {
      issuer: 'https://bridge.example.com',
      subject: 'agent-id-bridge:bp',
      audience: 'api://AzureADTokenExchange',
      now,
    });
    const { payload } = await jwtVerify(a, createLocalJWKSet(jwksDocument(keys) as never), { algorithms: ['RS256'] });
    expect(payload).toMatchObject({
      iss: 'https://bridge.example.com',
      sub: 'agent-id-bridge:bp',
      aud: 'api://AzureADTokenExchange',
      iat: now,
      nbf: now,
      exp: now + 300,
    });
    expect(typeof payload.jti).toBe('string');
    expect(a).not.toBe(b);
  });

  it('accepts a PKCS#8 PEM as well as a JWK', async () => {
    const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
    const k = await importSigningKey('K', await exportPKCS8(privateKey));
    expect(k.publicJwk.kid).toBe(k.kid);
  });

  it('refuses keys under 2048 bits, EC keys, public keys and garbage, naming the option', async () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    await expect(importSigningKey('BRIDGE_SIGNING_KEY', small)).rejects.toThrow(
      /BRIDGE_SIGNING_KEY: .*(1024 bits|2048)/,
    );
    const { privateKey: ec } = await generateKeyPair('ES256', { extractable: true });
    await expect(importSigningKey('BRIDGE_SIGNING_KEY', await exportPKCS8(ec))).rejects.toBeInstanceOf(KeyConfigError);
    const pub = JSON.parse(await generateSigningKeyJwk());
    delete pub.d;
    await expect(importSigningKey('BRIDGE_SIGNING_KEY', JSON.stringify(pub))).rejects.toThrow(
      /must be an RSA private key/,
    );
    await expect(importSigningKey('BRIDGE_NEXT_SIGNING_KEY', 'hello')).rejects.toThrow(/BRIDGE_NEXT_SIGNING_KEY/);
  });

  it('keeps the imported private key non-extractable', async () => {
    const k = await importSigningKey('K', await generateSigningKeyJwk());
    expect(k.privateKey.extractable).toBe(false);
  });

  it('discovery names the issuer byte for byte and RS256 only', () => {
    const d = discoveryDocument('https://bridge.example.com');
    expect(d).toMatchObject({
      issuer: 'https://bridge.example.com',
      jwks_uri: 'https://bridge.example.com/.well-known/jwks.json',
      token_endpoint: 'https://bridge.example.com/token',
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      grant_types_supported: ['urn:ietf:params:oauth:grant-type:token-exchange'],
    });
  });

  it("issue 8 item 7: the assertion audience is the configured cloud's token-exchange audience", async () => {
    const keys = await loadIssuerKeys({ option: 'K', material: await generateSigningKeyJwk() });
    const jwt = await mintBridgeAssertion(keys, {
      issuer: 'https://bridge.example.com',
      subject: 's',
      audience: 'api://AzureADTokenExchangeUSGov',
      now: 1_800_000_000,
    });
    const { payload } = await jwtVerify(jwt, createLocalJWKSet(jwksDocument(keys) as never), {
      algorithms: ['RS256'],
      currentDate: new Date(1_800_000_000_000),
    });
    expect(payload.aud).toBe('api://AzureADTokenExchangeUSGov');
  });
});

describe('issue 9 item 9: signing key messages a first-time operator can act on', () => {
  it('issue 9 item 9: an EC key (JWK, PKCS#8 PEM or SEC1 PEM) is refused with "must be RSA"', async () => {
    const { privateKey: ec } = await generateKeyPair('ES256', { extractable: true });
    await expect(importSigningKey('BRIDGE_SIGNING_KEY', JSON.stringify(await exportJWK(ec)))).rejects.toThrow(
      /BRIDGE_SIGNING_KEY: must be RSA: .*kty "EC"/,
    );
    await expect(importSigningKey('BRIDGE_SIGNING_KEY', await exportPKCS8(ec))).rejects.toThrow(
      /BRIDGE_SIGNING_KEY: must be RSA: this PEM holds an EC key/,
    );
    const sec1 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'sec1', format: 'pem' })
      .toString();
    await expect(importSigningKey('BRIDGE_SIGNING_KEY', sec1)).rejects.toThrow(/must be RSA: this is an EC key/);
  });

  it('issue 9 item 9: a PKCS#1 PEM is refused with the one-line openssl conversion', async () => {
    const pkcs1 = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs1', format: 'pem' })
      .toString();
    await expect(importSigningKey('BRIDGE_SIGNING_KEY', pkcs1)).rejects.toThrow(
      /PKCS#1 PEM .*openssl pkcs8 -topk8 -nocrypt -in key\.pem -out key\.pkcs8\.pem/,
    );
  });

  it("issue 9 item 9: npm's banner before the JSON of a key points at npm run -s and keys generate --out, without quoting the key", async () => {
    const jwk = await generateSigningKeyJwk();
    const saved = `\n> agent-id-bridge@0.1.0 keygen\n> node src/keygen.ts\n\n${jwk}\n`;
    const err = (await importSigningKey('BRIDGE_SIGNING_KEY', saved).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(KeyConfigError);
    expect(err.message).toMatch(
      /did npm print its banner\? use `npm run -s keygen` or `npx agent-id-bridge keys generate --out signing\.jwk`/,
    );
    expect(err.message).not.toContain(JSON.parse(jwk).d.slice(0, 16));
  });
});
