/**
 * Numbers and names of the oidc adapter, with the reason for each (docs/platforms/oidc.md).
 */

/**
 * OpenID Connect Discovery 1.0 §4 (https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig):
 * the configuration document lives at `<issuer>/.well-known/openid-configuration`.
 */
export const DISCOVERY_PATH = '/.well-known/openid-configuration';

/**
 * How long a fetched discovery document (and so the `jwks_uri` it names) is used before it is read
 * again. Issuers move their key set URL rarely; the keys themselves are refreshed by the JWKS cache
 * (src/constants.ts JWKS_CACHE_MAX_AGE_MS) and on an unknown `kid`.
 */
export const DISCOVERY_CACHE_SEC = 3600;

/** Discovery documents are a few KiB (GitHub's is under 2 KiB); the cap only stops an endless answer. */
export const DISCOVERY_MAX_BYTES = 64 * 1024;

/** The algorithms an issuer is trusted with unless its entry lists others. */
export const DEFAULT_ALGORITHMS = ['RS256', 'ES256'] as const;

/**
 * The asymmetric JWS algorithms an entry may list (RFC 7518 §3.3-3.5, RFC 8037 §3.1). `none` and the
 * HMAC family are never accepted: an HS* key is a shared secret, and a public JWKS would make it public.
 */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

/**
 * Token lifetime (exp - iat) and age (now - iat) accepted by default, per profile:
 * - GitHub Actions ID tokens live 5 minutes (exp - iat = 300 s in GitHub's own example at
 *   https://docs.github.com/en/actions/reference/security/oidc); 600 s leaves room.
 * - Kubernetes projected tokens default to `expirationSeconds: 3600`
 *   (https://kubernetes.io/docs/concepts/storage/projected-volumes/#serviceaccounttoken); the kubelet
 *   replaces a token once 80% of it has elapsed, so a live one is never older than its lifetime.
 * - SPIFFE and any other issuer: one hour, the bridge's general proof age (src/constants.ts).
 */
export const DEFAULT_LIFETIME_SEC = { generic: 3600, kubernetes: 3600, 'github-actions': 600, spiffe: 3600 } as const;

/** Upper bound of `maxLifetimeSec` / `maxTokenAgeSec`: a day; a proof older than that is a standing credential. */
export const MAX_CONFIGURABLE_LIFETIME_SEC = 86_400;

/** Bounds what one claim can put into an attribute, a principal or the audit log. */
export const MAX_CLAIM_VALUE_CHARS = 1024;

/** SPIFFE-ID §2.3: SPIFFE IDs up to 2048 bytes must be supported; longer ones are refused. */
export const MAX_SPIFFE_ID_BYTES = 2048;

/** Issuers one policy may trust under `platforms.oidc`; each is a verifier and a key set cache. */
export const MAX_ISSUERS = 64;

/** Claims one entry may map to attributes, beyond its profile's. */
export const MAX_EXTRA_ATTRIBUTES = 32;

/** Inline keys one entry may pin (several during a rotation). */
export const MAX_INLINE_KEYS = 20;
