/**
 * The emulated outbound identity federation issuer of one account
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_outbound_token_claims.html): an
 * RS256 and an ES384 key, its discovery document and JWKS, and the token GetWebIdentityToken
 * returns. Claims follow AWS's "Understanding token claims" sample [seen]; whether `aud` is a
 * string for one audience, and whether `sub` keeps the role path, are [inferred].
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { EmulatedAccount, EmulatedCredential } from './model.ts';

export type WebIdentityAlg = 'RS256' | 'ES384';

interface IssuerKey {
  kid: string;
  alg: WebIdentityAlg;
  privateKey: CryptoKey;
  publicJwk: JsonWebKey & { kid: string };
}

export interface WebIdentityTokenParams {
  credential: EmulatedCredential;
  audiences: readonly string[];
  alg: WebIdentityAlg;
  durationSec: number;
  region: string;
  iat: number;
  requestTags?: Record<string, string>;
  /** Test overrides: a claim set to undefined is removed. */
  claims?: Record<string, unknown>;
  header?: Record<string, unknown>;
}

export class EmulatedIssuer {
  readonly account: EmulatedAccount;
  readonly issuer: string;
  readonly #keys: IssuerKey[] = [];
  discoveryHits = 0;
  jwksHits = 0;

  private constructor(account: EmulatedAccount, issuer: string) {
    this.account = account;
    this.issuer = issuer;
  }

  static async create(account: EmulatedAccount, issuer: string): Promise<EmulatedIssuer> {
    const i = new EmulatedIssuer(account, issuer);
    await i.rotate('RS256');
    await i.rotate('ES384');
    return i;
  }

  /** Add a new key for `alg`; it signs from now on, the old one stays published. */
  async rotate(alg: WebIdentityAlg): Promise<void> {
    const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'RS256' ? { modulusLength: 2048 } : {});
    const kid = randomBytes(16).toString('hex');
    this.#keys.push({ kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } });
  }

  /** Test hook: fields merged over the discovery document (a lying `issuer`, a foreign `jwks_uri`). */
  discoveryOverride: Record<string, unknown> | undefined;

  discovery(): Record<string, unknown> {
    return {
      ...this.#discovery(),
      ...this.discoveryOverride,
    };
  }

  #discovery(): Record<string, unknown> {
    return {
      issuer: this.issuer,
      jwks_uri: `${this.issuer}/.well-known/jwks.json`,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256', 'ES384'],
    };
  }

  jwks(): { keys: (JsonWebKey & { kid: string })[] } {
    return { keys: this.#keys.map((k) => k.publicJwk) };
  }

  async mint(p: WebIdentityTokenParams): Promise<string> {
    const key = [...this.#keys].reverse().find((k) => k.alg === p.alg)!;
    const awsClaims: Record<string, unknown> = { aws_account: this.account.accountId, source_region: p.region };
    if (this.account.orgId) awsClaims.org_id = this.account.orgId;
    if (this.account.ouPath) awsClaims.ou_path = this.account.ouPath;
    if (p.credential.principalTags) awsClaims.principal_tags = p.credential.principalTags;
    if (p.credential.lambdaFunctionArn) awsClaims.lambda_source_function_arn = p.credential.lambdaFunctionArn;
    if (p.requestTags && Object.keys(p.requestTags).length > 0) awsClaims.request_tags = p.requestTags;
    const claims: Record<string, unknown> = {
      iss: this.issuer,
      sub: p.credential.iamArn,
      aud: p.audiences.length === 1 ? p.audiences[0] : [...p.audiences],
      iat: p.iat,
      exp: p.iat + p.durationSec,
      jti: randomUUID(),
      'https://sts.amazonaws.com/': awsClaims,
    };
    for (const [k, v] of Object.entries(p.claims ?? {})) {
      if (v === undefined) delete claims[k];
      else claims[k] = v;
    }
    const header: Record<string, unknown> = { alg: p.alg, kid: key.kid, typ: 'JWT', ...p.header };
    return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
  }
}
