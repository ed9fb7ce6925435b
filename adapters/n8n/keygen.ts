/**
 * `npm run --silent n8n:keygen -- --instance <id> [--alg ES256|EdDSA] [--json]`: create an n8n
 * instance key pair (docs/platforms/n8n.md#register-an-instance-step-by-step).
 *   stdout: the PRIVATE key (PKCS#8 PEM) for the n8n credential, and nothing else, so
 *           `... > instance.key.pem` captures only the secret;
 *   stderr: the kid, the public JWK and the policy snippet to register the instance with the bridge.
 * With --json, stdout is one JSON object holding all of it (for scripts); keep that output secret too.
 */
import { generateKeyPairSync } from 'node:crypto';
import { parseArgs } from 'node:util';
import { N8N_INSTANCE_ID_PATTERN, N8nPublicJwkSchema, type N8nPublicJwk } from './config.ts';
import { jwkThumbprint } from './keys.ts';

export interface InstanceKeyPair {
  instanceId: string;
  alg: 'ES256' | 'EdDSA';
  kid: string;
  privateKeyPem: string;
  /** With kid, alg and use: ready to paste under platforms.n8n.instances.<id>.keys. */
  publicJwk: N8nPublicJwk;
}

export async function generateInstanceKey(
  instanceId: string,
  alg: 'ES256' | 'EdDSA' = 'ES256',
): Promise<InstanceKeyPair> {
  if (!N8N_INSTANCE_ID_PATTERN.test(instanceId))
    throw new TypeError('--instance: 1-128 of [A-Za-z0-9._-], starting with a letter or digit');
  const { privateKey, publicKey } =
    alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const exported = publicKey.export({ format: 'jwk' });
  const jwk = N8nPublicJwkSchema.parse(
    exported.kty === 'EC'
      ? { kty: 'EC', crv: exported.crv, x: exported.x, y: exported.y }
      : { kty: 'OKP', crv: exported.crv, x: exported.x },
  );
  const kid = await jwkThumbprint(jwk);
  return {
    instanceId,
    alg,
    kid,
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicJwk: N8nPublicJwkSchema.parse({ ...jwk, kid, alg, use: 'sig' }),
  };
}

/** The `platforms.n8n` section registering this one instance (merge it into the policy file). */
export function policySnippet(k: InstanceKeyPair): string {
  return [
    'platforms:',
    '  n8n:',
    '    instances:',
    `      ${k.instanceId}:`,
    '        keys:',
    `          - ${JSON.stringify(k.publicJwk)}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      instance: { type: 'string', default: 'my-n8n' },
      alg: { type: 'string', default: 'ES256' },
      json: { type: 'boolean', default: false },
    },
  });
  if (values.alg !== 'ES256' && values.alg !== 'EdDSA') throw new TypeError('--alg: ES256 or EdDSA');
  const k = await generateInstanceKey(values.instance, values.alg);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(k, null, 2)}\n`);
    return;
  }
  process.stdout.write(k.privateKeyPem);
  process.stderr.write(
    [
      '',
      `n8n instance "${k.instanceId}": ${k.alg} key, kid (RFC 7638 thumbprint) ${k.kid}`,
      '',
      '1. The private key (stdout) goes into the n8n credential "Entra Agent Token API" > Private Key,',
      `   with Instance ID "${k.instanceId}" and the bridge URL. Store it nowhere else.`,
      '2. Register the public key with the bridge: add this to the policy file and restart the bridge:',
      '',
      policySnippet(k),
      '',
      '3. Add a rule for each workflow that may get tokens (principal n8n:<instance>:workflow:<workflow id>).',
      '',
    ].join('\n'),
  );
}

if (import.meta.main) {
  main().catch((e: unknown) => {
    process.stderr.write(`n8n:keygen: ${(e as Error).message}\n`);
    process.exit(2);
  });
}
