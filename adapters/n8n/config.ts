import { z } from 'zod';

/** Instance ids become part of `iss` and `sub` (`n8n:<instanceId>:workflow:<id>`), so no ":" and a bounded length. */
export const N8N_INSTANCE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const b64url = (bytes: number) =>
  z
    .string()
    .length(Math.ceil((bytes * 4) / 3))
    .regex(/^[A-Za-z0-9_-]+$/, 'must be base64url without padding');

/** Present only to say why: a private JWK pasted into the bridge's configuration is refused outright. */
const noPrivatePart = z
  .never({ error: 'must not be present: register the PUBLIC key only (and treat this private key as exposed)' })
  .optional();
const kid = z
  .string()
  .min(1)
  .max(128)
  .optional()
  .describe("Optional; when given it must equal the key's RFC 7638 thumbprint (checked on first use)");

const EcP256Jwk = z
  .object({
    kty: z.literal('EC'),
    crv: z.literal('P-256'),
    x: b64url(32),
    y: b64url(32),
    kid,
    alg: z.literal('ES256').optional(),
    use: z.literal('sig').optional(),
    d: noPrivatePart,
  })
  .strict();

const Ed25519Jwk = z
  .object({
    kty: z.literal('OKP'),
    crv: z.literal('Ed25519'),
    x: b64url(32),
    kid,
    alg: z.literal('EdDSA').optional(),
    use: z.literal('sig').optional(),
    d: noPrivatePart,
  })
  .strict();

export const N8nPublicJwkSchema = z
  .discriminatedUnion('kty', [EcP256Jwk, Ed25519Jwk])
  .describe('Public JWK of an n8n instance key: EC P-256 (ES256) or OKP Ed25519 (EdDSA)');

const N8nInstanceSchema = z
  .object({
    keys: z
      .array(N8nPublicJwkSchema)
      .min(1)
      .max(10)
      .optional()
      .describe('Inline public keys; several during a rotation'),
    jwksUrl: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe(
        "Or: an https URL serving this instance's public JWKS (each key's kid must be its RFC 7638 thumbprint)",
      ),
  })
  .strict()
  .refine((i) => (i.keys === undefined) !== (i.jwksUrl === undefined), 'set exactly one of "keys" or "jwksUrl"')
  .describe('One n8n instance: its id is the key of this entry and the <instanceId> of its assertions');

/** platforms.n8n: present = instance-signed n8n assertions are accepted (docs/platforms/n8n.md#configuration-platformsn8n-in-the-policy-file). */
export const N8nPlatformSchema = z
  .object({
    instances: z
      .record(
        z
          .string()
          .regex(N8N_INSTANCE_ID_PATTERN, 'instance ids are 1-128 of [A-Za-z0-9._-], starting with a letter or digit'),
        N8nInstanceSchema,
      )
      .refine((r) => Object.keys(r).length > 0, 'register at least one instance')
      .describe('Registered n8n instances by instance id'),
    clockSkewSec: z
      .int()
      .min(0)
      .max(60)
      .optional()
      .describe('Clock skew tolerated on iat/exp, in seconds (0-60, default 60)'),
  })
  .strict()
  .describe('Present = assertions signed by registered n8n instance keys are accepted');

export type N8nPlatformConfig = z.infer<typeof N8nPlatformSchema>;
export type N8nPublicJwk = z.infer<typeof N8nPublicJwkSchema>;
