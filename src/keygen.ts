/**
 * `npm run keygen`: print a fresh RS256 private JWK for BRIDGE_SIGNING_KEY (or
 * BRIDGE_NEXT_SIGNING_KEY) and, on stderr, its kid. Store the output as a secret; never commit it.
 */
import { importSigningKey, generateSigningKeyJwk } from './issuer/keys.ts';

const jwk = await generateSigningKeyJwk();
const key = await importSigningKey('generated', jwk);
process.stderr.write(`kid (RFC 7638 thumbprint): ${key.kid}\n`);
process.stdout.write(`${jwk}\n`);
