/**
 * Environment + policy file → one typed, validated Config, parsed once at startup
 * (docs/architecture.md#configuration-and-the-sandbox). Every error names the offending option path; all problems are reported at once.
 */
import {
  DEFAULT_CLIENT_RATE_LIMIT_PER_MINUTE,
  DEFAULT_CREDENTIAL_RATE_LIMIT_PER_MINUTE,
  DEFAULT_ISSUER_RATE_LIMIT_PER_MINUTE,
  DEFAULT_MAX_CONCURRENT_VERIFICATIONS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_PORT,
  DEFAULT_RATE_LIMIT_MAX_KEYS,
  DEFAULT_RATE_LIMIT_PER_MINUTE,
  ENTRA_AUTHORITY_HOST,
  ENTRA_MAX_ATTEMPTS,
  ENTRA_TIMEOUT_MS,
  MAX_FIC_AUDIENCE_CHARS,
  REPLAY_MAX_ENTRIES,
  REPLAY_QUOTA_PER_ISSUER,
} from '../constants.ts';
import { tokenExchangeAudienceFor } from '../entra/cloud.ts';
import type { AdmissionLimits } from '../limits/admission.ts';
import { isLoopbackHost } from '../net/loopback.ts';
import { CACHE_SECRET_MIN_BYTES, DEFAULT_REDIS_KEY_PREFIX } from '../store/redis/constants.ts';
import { parseRedisUrl } from '../store/redis/url.ts';
import type { CompiledPolicy } from '../policy/policy.ts';
import type { PlatformModule } from '../verify/contract.ts';
import { parsePolicyText } from './policy-file.ts';
import type { PlatformsConfig } from './schema.ts';

export interface Config {
  /** 'sandbox' only when started by the sandbox launcher: enables loopback http and /_sandbox. */
  mode: 'production' | 'sandbox';
  issuer: string;
  audience: string;
  signingKey: { option: string; material: string };
  nextSigningKey: { option: string; material: string } | undefined;
  policy: CompiledPolicy;
  platforms: PlatformsConfig;
  entra: {
    authorityHost: string;
    endpoint: string;
    /** The cloud's token-exchange audience: `aud` of the bridge assertions and of the blueprint's FIC. */
    tokenExchangeAudience: string;
    timeoutMs: number;
    maxAttempts: number;
  };
  listen: { host: string; port: number };
  rateLimitPerMinute: number;
  /** Limits checked before a proof is verified (src/limits/admission.ts); maxKeys also bounds the principal limiter. */
  admission: AdmissionLimits;
  /** Node server only: proxies in front whose X-Forwarded-For is believed, and the connection cap. */
  node: { trustedProxyHops: number; maxConnections: number };
  /** Unexpired single-use proofs (n8n jti) one issuer may hold in the replay store. */
  replayQuotaPerIssuer: number;
  explain: boolean;
  audit: 'stdout' | 'off';
  /** Node replicas sharing one Redis (docs/redis.md); undefined: in-process stores. */
  redis: RedisSettings | undefined;
  /** http:// to loopback hosts is allowed for outbound fetches (sandbox and tests only). */
  allowInsecureLoopback: boolean;
}

export interface RedisSettings {
  url: string;
  /** Every key the bridge writes starts with it (several bridges can share one Redis). */
  keyPrefix: string;
  /** Decoded BRIDGE_CACHE_ENCRYPTION_KEY; undefined when the shared token cache is off. */
  sharedCacheSecret: Uint8Array | undefined;
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Variables the bridge reads. Listed once, so docs and the "is anything configured?" check agree. */
export const ENV = {
  issuer: 'BRIDGE_ISSUER',
  audience: 'BRIDGE_AUDIENCE',
  signingKey: 'BRIDGE_SIGNING_KEY',
  nextSigningKey: 'BRIDGE_NEXT_SIGNING_KEY',
  signingKeyFile: 'BRIDGE_SIGNING_KEY_FILE',
  nextSigningKeyFile: 'BRIDGE_NEXT_SIGNING_KEY_FILE',
  policyFile: 'BRIDGE_POLICY_FILE',
  policy: 'BRIDGE_POLICY',
  entraAuthorityHost: 'ENTRA_AUTHORITY_HOST',
  entraTokenExchangeAudience: 'ENTRA_TOKEN_EXCHANGE_AUDIENCE',
  entraTimeoutMs: 'ENTRA_TIMEOUT_MS',
  entraMaxAttempts: 'ENTRA_MAX_ATTEMPTS',
  host: 'BRIDGE_HOST',
  port: 'PORT',
  rateLimit: 'BRIDGE_RATE_LIMIT_PER_MINUTE',
  clientRateLimit: 'BRIDGE_CLIENT_RATE_LIMIT_PER_MINUTE',
  credentialRateLimit: 'BRIDGE_CREDENTIAL_RATE_LIMIT_PER_MINUTE',
  issuerRateLimit: 'BRIDGE_ISSUER_RATE_LIMIT_PER_MINUTE',
  maxConcurrentVerifications: 'BRIDGE_MAX_CONCURRENT_VERIFICATIONS',
  rateLimitMaxKeys: 'BRIDGE_RATE_LIMIT_MAX_KEYS',
  trustedProxyHops: 'BRIDGE_TRUSTED_PROXY_HOPS',
  maxConnections: 'BRIDGE_MAX_CONNECTIONS',
  replayQuota: 'BRIDGE_REPLAY_QUOTA_PER_ISSUER',
  explain: 'BRIDGE_EXPLAIN',
  audit: 'BRIDGE_AUDIT',
  redisUrl: 'BRIDGE_REDIS_URL',
  redisKeyPrefix: 'BRIDGE_REDIS_KEY_PREFIX',
  sharedTokenCache: 'BRIDGE_SHARED_TOKEN_CACHE',
  cacheEncryptionKey: 'BRIDGE_CACHE_ENCRYPTION_KEY',
  /** Workers only: the operator credential of the kill switch's admin endpoint (src/admin/deny-endpoint.ts). */
  adminToken: 'BRIDGE_ADMIN_TOKEN',
} as const;

export type Env = Readonly<Record<string, string | undefined>>;

/** True when any bridge variable is set: then the sandbox must never start (docs/architecture.md#configuration-and-the-sandbox). */
export function isConfigured(env: Env): boolean {
  return Object.values(ENV).some((name) => name !== ENV.port && name !== ENV.host && (env[name] ?? '') !== '');
}

/**
 * With some bridge variables set but not the ones a bridge needs, `npm start` neither runs the
 * sandbox (design rule: never beside a configured tenant) nor a bridge. Say which variables stopped
 * the sandbox and what else to set, so a stray `BRIDGE_RATE_LIMIT_PER_MINUTE` is not a riddle.
 */
export function sandboxSkippedHint(env: Env): string | undefined {
  const isSet = (name: string) => (env[name] ?? '').trim() !== '';
  const present = Object.values(ENV).filter((name) => name !== ENV.port && name !== ENV.host && isSet(name));
  const missing: string[] = [ENV.issuer, ENV.signingKey].filter((name) => !isSet(name));
  if (!isSet(ENV.policyFile) && !isSet(ENV.policy)) missing.push(ENV.policyFile);
  if (present.length === 0 || missing.length === 0) return undefined;
  const names = present.join(', ');
  return `the sandbox did not start because ${names} ${present.length === 1 ? 'is' : 'are'} set; set ${missing.join(', ')} to run the bridge, or unset ${names} to run the sandbox`;
}

export interface LoadOptions {
  /** The platform registry (src/platforms.ts), injected so that src/config never imports an adapter. */
  platforms: readonly PlatformModule[];
  mode?: 'production' | 'sandbox';
  /** Reads the policy file named by BRIDGE_POLICY_FILE (Node passes fs; Workers have none). */
  readFile?: (path: string) => string;
}

export { registryRuleChecks } from './policy-file.ts';

export function loadConfig(env: Env, opts: LoadOptions): Config {
  const problems: string[] = [];
  const mode = opts.mode ?? 'production';
  const get = (name: string) => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const allowInsecureLoopback = mode === 'sandbox';

  const issuer = checkIssuerUrl(get(ENV.issuer), ENV.issuer, allowInsecureLoopback, problems);
  const audience = get(ENV.audience) ?? issuer;

  const signing = keyOption(get, ENV.signingKey, ENV.signingKeyFile, opts, problems);
  if (!signing && !problems.some((p) => p.startsWith(ENV.signingKey))) {
    problems.push(
      `${ENV.signingKey}: required (an RSA private JWK or PKCS#8 PEM, 2048 bits or more; generate one with "npx agent-id-bridge keys generate --out signing.jwk"; on Node, ${ENV.signingKeyFile} may name a file holding it instead)`,
    );
  }
  const nextSigning = keyOption(get, ENV.nextSigningKey, ENV.nextSigningKeyFile, opts, problems);

  const policyText = readPolicyText(env, get, opts, problems);
  let policy: CompiledPolicy | undefined;
  let platforms: PlatformsConfig = {};
  if (policyText !== undefined) {
    const parsed = parsePolicyText(policyText.text, get(ENV.policyFile) ?? ENV.policy, opts.platforms, {
      allowInsecureLoopback,
    });
    problems.push(...parsed.problems);
    policy = parsed.policy;
    platforms = parsed.platforms;
  }

  const entraHost = (get(ENV.entraAuthorityHost) ?? ENTRA_AUTHORITY_HOST).replace(/\/+$/, '');
  const entraUrl = checkUrl(entraHost, ENV.entraAuthorityHost, allowInsecureLoopback, problems);
  // The sandbox's fake tenant and keys must never meet real Entra.
  if (mode === 'sandbox' && entraUrl && !isLoopbackHost(new URL(entraUrl)))
    problems.push(`${ENV.entraAuthorityHost}: the sandbox talks to the local Entra emulator only`);
  const authorityHost = entraUrl?.startsWith('https://') ? entraUrl : ENTRA_AUTHORITY_HOST;
  const tokenExchangeAudience = exchangeAudienceOption(get(ENV.entraTokenExchangeAudience), authorityHost, problems);
  const timeoutMs = intOption(get(ENV.entraTimeoutMs), ENV.entraTimeoutMs, ENTRA_TIMEOUT_MS, 100, 120_000, problems);
  const maxAttempts = intOption(get(ENV.entraMaxAttempts), ENV.entraMaxAttempts, ENTRA_MAX_ATTEMPTS, 1, 10, problems);
  const port = intOption(get(ENV.port), ENV.port, DEFAULT_PORT, 0, 65535, problems);
  const rate = intOption(get(ENV.rateLimit), ENV.rateLimit, DEFAULT_RATE_LIMIT_PER_MINUTE, 1, 1_000_000, problems);
  const admission: AdmissionLimits = {
    clientPerMinute: intOption(
      get(ENV.clientRateLimit),
      ENV.clientRateLimit,
      DEFAULT_CLIENT_RATE_LIMIT_PER_MINUTE,
      1,
      1_000_000,
      problems,
    ),
    credentialPerMinute: intOption(
      get(ENV.credentialRateLimit),
      ENV.credentialRateLimit,
      DEFAULT_CREDENTIAL_RATE_LIMIT_PER_MINUTE,
      1,
      1_000_000,
      problems,
    ),
    issuerPerMinute: intOption(
      get(ENV.issuerRateLimit),
      ENV.issuerRateLimit,
      DEFAULT_ISSUER_RATE_LIMIT_PER_MINUTE,
      1,
      10_000_000,
      problems,
    ),
    maxConcurrentVerifications: intOption(
      get(ENV.maxConcurrentVerifications),
      ENV.maxConcurrentVerifications,
      DEFAULT_MAX_CONCURRENT_VERIFICATIONS,
      1,
      10_000,
      problems,
    ),
    maxKeys: intOption(
      get(ENV.rateLimitMaxKeys),
      ENV.rateLimitMaxKeys,
      DEFAULT_RATE_LIMIT_MAX_KEYS,
      100,
      10_000_000,
      problems,
    ),
  };
  const node = {
    trustedProxyHops: intOption(get(ENV.trustedProxyHops), ENV.trustedProxyHops, 0, 0, 10, problems),
    maxConnections: intOption(
      get(ENV.maxConnections),
      ENV.maxConnections,
      DEFAULT_MAX_CONNECTIONS,
      1,
      1_000_000,
      problems,
    ),
  };
  const replayQuota = intOption(
    get(ENV.replayQuota),
    ENV.replayQuota,
    REPLAY_QUOTA_PER_ISSUER,
    1,
    REPLAY_MAX_ENTRIES,
    problems,
  );
  const explain = boolOption(get(ENV.explain), ENV.explain, true, problems);
  const audit = get(ENV.audit) ?? 'stdout';
  if (audit !== 'stdout' && audit !== 'off') problems.push(`${ENV.audit}: must be "stdout" or "off"`);
  const redis = redisOption(get, problems);

  if (problems.length > 0 || !issuer || !signing || !policy || !entraUrl || !tokenExchangeAudience)
    throw new ConfigError(problems);
  return {
    mode,
    issuer,
    audience: audience ?? issuer,
    signingKey: signing,
    nextSigningKey: nextSigning,
    policy,
    platforms,
    entra: { authorityHost, endpoint: entraUrl, tokenExchangeAudience, timeoutMs, maxAttempts },
    listen: { host: get(ENV.host) ?? '127.0.0.1', port },
    rateLimitPerMinute: rate,
    admission,
    node,
    replayQuotaPerIssuer: replayQuota,
    explain,
    audit: audit === 'off' ? 'off' : 'stdout',
    redis,
    allowInsecureLoopback,
  };
}

/**
 * A key given inline (`BRIDGE_SIGNING_KEY`) or as a file (`BRIDGE_SIGNING_KEY_FILE`, e.g. a mounted
 * secret in a container: docs/operations.md), never both. The option named in later errors is the
 * one that was set.
 */
function keyOption(
  get: (n: string) => string | undefined,
  inlineOption: string,
  fileOption: string,
  opts: LoadOptions,
  problems: string[],
): { option: string; material: string } | undefined {
  const inline = get(inlineOption);
  const file = get(fileOption);
  if (inline && file) {
    problems.push(`${inlineOption} and ${fileOption}: set one, not both`);
    return undefined;
  }
  if (inline) return { option: inlineOption, material: inline };
  if (!file) return undefined;
  if (!opts.readFile) {
    problems.push(`${fileOption}: files cannot be read on this runtime; use ${inlineOption}`);
    return undefined;
  }
  try {
    const material = opts.readFile(file).trim();
    if (material === '') problems.push(`${fileOption}: ${file} is empty`);
    return material === '' ? undefined : { option: fileOption, material };
  } catch (e) {
    problems.push(`${fileOption}: cannot read ${file} (${(e as { code?: string }).code ?? (e as Error).message})`);
    return undefined;
  }
}

function readPolicyText(
  env: Env,
  get: (n: string) => string | undefined,
  opts: LoadOptions,
  problems: string[],
): { text: string } | undefined {
  const file = get(ENV.policyFile);
  const inline = env[ENV.policy];
  if (file && inline) {
    problems.push(`${ENV.policyFile} and ${ENV.policy}: set one, not both`);
    return undefined;
  }
  if (inline && inline.trim() !== '') return { text: inline };
  if (!file) {
    problems.push(`${ENV.policyFile} or ${ENV.policy}: required (the trust policy; see schema/policy.schema.json)`);
    return undefined;
  }
  if (!opts.readFile) {
    problems.push(`${ENV.policyFile}: files cannot be read on this runtime; use ${ENV.policy}`);
    return undefined;
  }
  try {
    return { text: opts.readFile(file) };
  } catch (e) {
    problems.push(`${ENV.policyFile}: cannot read ${file} (${(e as { code?: string }).code ?? (e as Error).message})`);
    return undefined;
  }
}

function checkUrl(value: string, option: string, allowLoopbackHttp: boolean, problems: string[]): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problems.push(`${option}: not a URL`);
    return undefined;
  }
  if (url.protocol !== 'https:' && !(allowLoopbackHttp && isLoopbackHost(url) && url.protocol === 'http:')) {
    problems.push(`${option}: must be https (http is accepted for loopback in the sandbox only)`);
    return undefined;
  }
  return value;
}

function checkIssuerUrl(
  value: string | undefined,
  option: string,
  allowLoopbackHttp: boolean,
  problems: string[],
): string | undefined {
  if (!value) {
    problems.push(
      `${option}: required (the bridge's public https URL; Entra fetches <issuer>/.well-known/openid-configuration)`,
    );
    return undefined;
  }
  const ok = checkUrl(value, option, allowLoopbackHttp, problems);
  if (!ok) return undefined;
  const url = new URL(value);
  // Entra compares the FIC issuer byte for byte with `iss` (docs/entra.md#federated-credential-matching): keep one canonical spelling.
  if (value.endsWith('/')) problems.push(`${option}: must not end with "/" (Entra matches the issuer byte for byte)`);
  if (url.search || url.hash) problems.push(`${option}: must not have a query or fragment`);
  return value;
}

/**
 * The token-exchange audience: configured (any cloud), or derived from a known authority host.
 * Entra compares it byte for byte with the FIC's audience, so it is refused with surrounding
 * whitespace, a trailing "/" or over the FIC's 600 characters.
 */
function exchangeAudienceOption(
  value: string | undefined,
  authorityHost: string,
  problems: string[],
): string | undefined {
  const option = ENV.entraTokenExchangeAudience;
  if (value === undefined) {
    const derived = tokenExchangeAudienceFor(authorityHost);
    if (!derived)
      problems.push(
        `${option}: required for ${ENV.entraAuthorityHost}=${authorityHost} (no known token-exchange audience for that cloud)`,
      );
    return derived;
  }
  if (!/^[a-z][a-z0-9+.-]*:\S+$/i.test(value) || value.endsWith('/') || value.length > MAX_FIC_AUDIENCE_CHARS) {
    problems.push(
      `${option}: must be a URI without spaces or trailing "/", at most ${MAX_FIC_AUDIENCE_CHARS} characters (e.g. api://AzureADTokenExchangeUSGov)`,
    );
    return undefined;
  }
  return value;
}

/**
 * BRIDGE_REDIS_URL and its companions. The shared token cache is on by default with Redis and then
 * needs its own key: Entra tokens never reach Redis in clear, and the signing key is never reused
 * for it (docs/redis.md).
 */
function redisOption(get: (n: string) => string | undefined, problems: string[]): RedisSettings | undefined {
  const url = get(ENV.redisUrl);
  const others = [ENV.redisKeyPrefix, ENV.sharedTokenCache, ENV.cacheEncryptionKey].filter(
    (name) => get(name) !== undefined,
  );
  if (url === undefined) {
    if (others.length > 0) problems.push(`${others.join(', ')}: set only with ${ENV.redisUrl}`);
    return undefined;
  }
  try {
    parseRedisUrl(url);
  } catch (e) {
    problems.push(`${ENV.redisUrl}: ${(e as Error).message}`);
  }
  const keyPrefix = get(ENV.redisKeyPrefix) ?? DEFAULT_REDIS_KEY_PREFIX;
  if (!/^[\x21-\x7e]{1,64}$/.test(keyPrefix))
    problems.push(`${ENV.redisKeyPrefix}: 1 to 64 printable ASCII characters without spaces`);
  const shared = boolOption(get(ENV.sharedTokenCache), ENV.sharedTokenCache, true, problems);
  let sharedCacheSecret: Uint8Array | undefined;
  if (shared) {
    const key = get(ENV.cacheEncryptionKey);
    sharedCacheSecret = key === undefined ? undefined : decodeBase64(key);
    if (key === undefined)
      problems.push(
        `${ENV.cacheEncryptionKey}: required with ${ENV.redisUrl} (the shared token cache encrypts Entra tokens with it; generate one with "openssl rand -base64 32"), or set ${ENV.sharedTokenCache}=off`,
      );
    else if (sharedCacheSecret === undefined || sharedCacheSecret.length < CACHE_SECRET_MIN_BYTES)
      problems.push(
        `${ENV.cacheEncryptionKey}: must be base64 of at least ${CACHE_SECRET_MIN_BYTES} random bytes (e.g. "openssl rand -base64 32")`,
      );
  }
  return { url, keyPrefix, sharedCacheSecret };
}

/** Standard or URL-safe base64, padded or not; undefined if it is neither. */
function decodeBase64(value: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) return undefined;
  try {
    const binary = atob(value.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, ''));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

function intOption(
  value: string | undefined,
  option: string,
  dflt: number,
  min: number,
  max: number,
  problems: string[],
): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    problems.push(`${option}: must be an integer from ${min} to ${max}`);
    return dflt;
  }
  return n;
}

function boolOption(value: string | undefined, option: string, dflt: boolean, problems: string[]): boolean {
  if (value === undefined) return dflt;
  if (['on', 'true', '1'].includes(value)) return true;
  if (['off', 'false', '0'].includes(value)) return false;
  problems.push(`${option}: must be on or off`);
  return dflt;
}
