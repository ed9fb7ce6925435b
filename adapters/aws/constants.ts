/**
 * The AWS adapter's wire names and limits, shared by the verifier, the client helper and the
 * emulator. Each limit has its unit in the name and the reason beside it.
 */

/**
 * The header that binds a signed GetCallerIdentity to one bridge. It must be in SignedHeaders:
 * an unsigned binding header is the replay hole of GHSA-wq26-3j2m-4hvv (docs/platforms/aws.md#what-the-bridge-checks-and-why).
 */
export const AWS_AUDIENCE_HEADER = 'x-agent-id-bridge-audience';

/** The only STS call a proof may carry (query string or form body), in its canonical order. */
export const GET_CALLER_IDENTITY_FORM = 'Action=GetCallerIdentity&Version=2011-06-15';
export const STS_API_VERSION = '2011-06-15';

/** Proof kinds as they appear in VerifiedWorkload.proofKind and the audit log. */
export const PROOF_KIND_SIGV4 = 'aws-sigv4-gci';
export const PROOF_KIND_WEB_IDENTITY = 'aws-web-identity-jwt';

/**
 * Cap on a kind-1 proof (the URL-encoded JSON). A Lambda session token is about 1 KiB, an
 * assumed-role one with session tags up to a few KiB; 12 KiB leaves room and stays under the
 * 16 KiB subject_token cap of the token endpoint.
 */
export const AWS_MAX_PROOF_BYTES = 12 * 1024;
/** At most this many headers in a proof; signers send 5–10. */
export const AWS_MAX_PROOF_HEADERS = 32;
/** Per header value; the session token is the longest one. */
export const AWS_MAX_HEADER_VALUE_BYTES = 8 * 1024;
export const AWS_MAX_URL_BYTES = 2048;

/** STS refuses a SigV4 request older than 15 minutes (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html). */
export const STS_MAX_REQUEST_AGE_SEC = 900;
/** Accept an x-amz-date this far in the future: workload clocks drift (Chainguard uses 5 min). */
export const AWS_FUTURE_SKEW_SEC = 300;

export const STS_DEFAULT_TIMEOUT_MS = 5_000;
/** A GetCallerIdentity answer is under 1 KiB; errors are similar. */
export const STS_MAX_RESPONSE_BYTES = 16 * 1024;
/** Retry-After sent when STS is unreachable, slow or throttling. */
export const STS_RETRY_AFTER_SEC = 10;

/** Entries kept in the verification cache (each lives at most 15 minutes). */
export const SIGV4_CACHE_MAX_ENTRIES = 10_000;

/** GetWebIdentityToken lifetimes are 60–3600 s (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetWebIdentityToken.html). */
export const WEB_IDENTITY_MAX_LIFETIME_SEC = 3600;
/** AWS signs web identity tokens with RS256 or ES384 only (API_GetWebIdentityToken). */
export const WEB_IDENTITY_ALGORITHMS = ['RS256', 'ES384'] as const;
/** Where the AWS-specific claims of a web identity token live. */
export const AWS_CLAIMS_NAMESPACE = 'https://sts.amazonaws.com/';
/** Re-read an issuer's discovery document this often; its jwks_uri practically never changes. */
export const DISCOVERY_CACHE_MS = 60 * 60_000;
/** After a failed discovery, wait this long before asking again. */
export const DISCOVERY_RETRY_COOLDOWN_MS = 30_000;
