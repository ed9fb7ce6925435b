/**
 * `platforms.oidc`: the OIDC issuers the bridge trusts for workload proofs (docs/platforms/oidc.md).
 */
import { z } from 'zod';
import {
  ASYMMETRIC_ALGORITHMS,
  MAX_CONFIGURABLE_LIFETIME_SEC,
  MAX_EXTRA_ATTRIBUTES,
  MAX_INLINE_KEYS,
  MAX_ISSUERS,
} from './constants.ts';

export const PROFILES = ['kubernetes', 'github-actions', 'spiffe'] as const;
export type Profile = (typeof PROFILES)[number];

/**
 * A claim name that may become an attribute or the principal: top-level, and a name a rule can spell.
 * Starts with a letter, so `__proto__` can never be one.
 */
export const CLAIM_NAME = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/;

/** SPIFFE-ID §2.1: a trust domain name is lowercase letters, digits, ".", "-" and "_". */
export const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;

const algorithm = z.enum(ASYMMETRIC_ALGORITHMS, {
  error: `must be one of ${ASYMMETRIC_ALGORITHMS.join(', ')}: "none" and HS* are never accepted`,
});

/** Present only to say why: a private or symmetric JWK pasted into the bridge's configuration is refused outright. */
const noSecretPart = z
  .never({ error: 'must not be present: pin the PUBLIC key only (and treat this key as exposed)' })
  .optional();

/** A public signing key, as served in a JWKS (RFC 7517 §4, RFC 7518 §6). jose checks the members when it imports it. */
const PublicJwkSchema = z
  .object({
    kty: z.enum(['RSA', 'EC', 'OKP']),
    kid: z.string().min(1).max(256).optional(),
    alg: algorithm.optional(),
    use: z.literal('sig').optional(),
    key_ops: z.array(z.literal('verify')).optional(),
    n: z.string().optional(),
    e: z.string().optional(),
    crv: z.string().optional(),
    x: z.string().optional(),
    y: z.string().optional(),
    x5c: z.array(z.string()).optional(),
    x5t: z.string().optional(),
    'x5t#S256': z.string().optional(),
    d: noSecretPart,
    p: noSecretPart,
    q: noSecretPart,
    dp: noSecretPart,
    dq: noSecretPart,
    qi: noSecretPart,
    k: noSecretPart,
  })
  .strict();

const claimName = z.string().regex(CLAIM_NAME, 'a top-level claim name: a letter, then up to 63 of [A-Za-z0-9_.:-]');
const seconds = z.int().min(60).max(MAX_CONFIGURABLE_LIFETIME_SEC);

export const OidcIssuerSchema = z
  .object({
    issuer: z
      .url({ protocol: /^https?$/ })
      .max(512)
      .refine(
        (u) => !u.includes('?') && !u.includes('#'),
        'an issuer has no query or fragment (OpenID Connect Discovery 1.0 §3)',
      )
      .describe('The issuer URL, matched byte for byte against the token\'s "iss"'),
    profile: z
      .enum(PROFILES)
      .optional()
      .describe(
        'kubernetes, github-actions or spiffe: the principal and attributes of that kind of workload; absent: principalClaim and attributes only',
      ),
    jwksUri: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe('Pinned key set URL instead of discovery'),
    jwks: z
      .object({ keys: z.array(PublicJwkSchema).min(1).max(MAX_INLINE_KEYS) })
      .strict()
      .optional()
      .describe('Inline public keys instead of discovery (air-gapped clusters)'),
    algorithms: z.array(algorithm).min(1).optional().describe('Accepted JWS algorithms; default RS256 and ES256'),
    audience: z
      .string()
      .min(1)
      .max(512)
      .optional()
      .describe("The one audience the token must carry; default the bridge's audience"),
    maxTokenAgeSec: seconds.optional().describe('Oldest accepted token (now - iat), in seconds; default per profile'),
    maxLifetimeSec: seconds
      .optional()
      .describe('Longest accepted lifetime (exp - iat), in seconds; default per profile'),
    principalClaim: claimName.optional().describe('Without a profile: the claim that is the principal; default "sub"'),
    attributes: z
      .array(claimName)
      .max(MAX_EXTRA_ATTRIBUTES)
      .optional()
      .describe('Further top-level claims that become attributes (string, number or boolean values only)'),
    trustDomain: z
      .string()
      .regex(TRUST_DOMAIN, 'a SPIFFE trust domain name: lowercase letters, digits, ".", "-", "_"')
      .optional()
      .describe('spiffe profile: the trust domain every SPIFFE ID must belong to'),
  })
  .strict()
  .superRefine((entry, ctx) => {
    if (entry.jwksUri !== undefined && entry.jwks !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['jwks'],
        message: 'set at most one of "jwksUri" or "jwks" (neither: discovery)',
      });
    if (entry.profile !== undefined && entry.principalClaim !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['principalClaim'],
        message: `the ${entry.profile} profile defines the principal`,
      });
    if ((entry.profile === 'spiffe') !== (entry.trustDomain !== undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['trustDomain'],
        message: entry.profile === 'spiffe' ? 'required by the spiffe profile' : 'only for the spiffe profile',
      });
  })
  .describe('One trusted OIDC issuer');

/** platforms.oidc: present = OIDC workload tokens of the listed issuers are accepted. */
export const OidcPlatformSchema = z
  .object({
    issuers: z
      .array(OidcIssuerSchema)
      .min(1)
      .max(MAX_ISSUERS)
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        list.forEach((entry, i) => {
          if (seen.has(entry.issuer))
            ctx.addIssue({ code: 'custom', path: [i, 'issuer'], message: `${entry.issuer} is listed twice` });
          seen.add(entry.issuer);
        });
      })
      .describe('Trusted issuers, each matched exactly'),
  })
  .strict()
  .describe('Present = tokens of the listed OIDC issuers (Kubernetes, GitHub Actions, SPIFFE, any other) are accepted');

export type OidcPlatformConfig = z.infer<typeof OidcPlatformSchema>;
export type OidcIssuerConfig = z.infer<typeof OidcIssuerSchema>;
export type PublicJwk = z.infer<typeof PublicJwkSchema>;
