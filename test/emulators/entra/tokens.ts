/**
 * The emulator's signing key and every token it mints, with the claims observed in real Entra tokens
 * (docs/entra.md#token-claims, real captures) and the lifetimes of docs/entra.md#lifetimes.
 */
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { SignJWT, type JWK } from 'jose';
import type { EmulatedAgent, EmulatedBlueprint, EmulatedResource } from './model.ts';
import {
  EXCHANGE_TOKEN_LIFETIME_SEC,
  EXPIRES_IN_MARGIN_SEC,
  ID_TOKEN_LIFETIME_SEC,
  REFRESH_IN_THRESHOLD_SEC,
  TOKEN_EXCHANGE_APP_ID,
} from './constants.ts';
import { eid1Subject } from './guid.ts';

// ─── Signing key ───

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** What /{tid}/discovery/v2.0/keys publishes. */
  publicJwk: JWK;
}

/**
 * A fresh 2048-bit RSA key per emulator. Generated synchronously (node:crypto) so that
 * createEntraEmulator can stay synchronous; jose signs with the KeyObject directly.
 */
export function createSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const { n, e } = publicKey.export({ format: 'jwk' });
  const kid = rsaThumbprint(n!, e!);
  return { kid, privateKey, publicKey, publicJwk: { kty: 'RSA', use: 'sig', kid, n, e } };
}

/** RFC 7638 SHA-256 thumbprint of an RSA key (members e, kty, n in lexicographic order); equals jose's calculateJwkThumbprint. */
function rsaThumbprint(n: string, e: string): string {
  return createHash('sha256')
    .update(JSON.stringify({ e, kty: 'RSA', n }))
    .digest('base64url');
}

async function sign(key: SigningKey, claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid }).sign(key.privateKey);
}

// ─── Claim helpers ───

export interface MintContext {
  key: SigningKey;
  tenantId: string;
  authorityHost: string;
  now: number;
}

export const v2Issuer = (authorityHost: string, tenantId: string): string => `${authorityHost}/${tenantId}/v2.0`;
/** Entra's v1 issuer is always sts.windows.net in the public cloud (docs/entra.md#token-claims), whatever authority was used. */
export const v1Issuer = (tenantId: string): string => `https://sts.windows.net/${tenantId}/`;

/** `uti`: Entra's unique token identifier, 16 random bytes in base64url. */
const uti = (): string => randomBytes(16).toString('base64url');

/** Pairwise `sub` of user tokens: stable per (user, application), opaque, 43 characters like Entra's. */
export function pairwiseSub(userOid: string, appOrResource: string): string {
  return createHash('sha256').update(`${userOid}|${appOrResource}`).digest('base64url');
}

function times(now: number, lifetimeSec: number): { iat: number; nbf: number; exp: number } {
  return { iat: now, nbf: now, exp: now + lifetimeSec };
}

/**
 * [inf] Captured T1/T2 carry exp − iat = 3900 while clients are told ~3599: Entra keeps a margin of
 * about five minutes. The same margin is applied to every long-lived token.
 */
export function expiresIn(lifetimeSec: number): number {
  return lifetimeSec >= EXCHANGE_TOKEN_LIFETIME_SEC ? lifetimeSec - EXPIRES_IN_MARGIN_SEC : lifetimeSec;
}

// Facet values as seen in real tokens (docs/entra.md#token-claims): space-separated sets of integers.
const FACETS_BLUEPRINT = '1 9';
const FACETS_AGENT = '1 9 11'; // 11 = AgentIdentity
const FACETS_AGENT_USER = '1 13'; // 13 = AgentIDUser

// ─── Tokens ───

/** T1: the blueprint's token-exchange token for agent `fmiPath` (docs/entra.md#token-claims "T1"). */
export function mintT1(ctx: MintContext, bp: EmulatedBlueprint, fmiPath: string): Promise<string> {
  return sign(ctx.key, {
    aud: TOKEN_EXCHANGE_APP_ID,
    iss: v2Issuer(ctx.authorityHost, ctx.tenantId),
    ...times(ctx.now, EXCHANGE_TOKEN_LIFETIME_SEC),
    azp: bp.appId,
    azpacr: '2', // assertion-authenticated; '1' would be a secret (docs/entra.md#token-claims)
    idtyp: 'app',
    oid: bp.principalId,
    sub: eid1Subject(ctx.tenantId, bp.appId, fmiPath),
    tid: ctx.tenantId,
    uti: uti(),
    ver: '2.0',
    xms_act_fct: FACETS_BLUEPRINT,
    xms_sub_fct: FACETS_BLUEPRINT,
    xms_idrel: '7 26',
  });
}

/** T2: the agent identity's own token-exchange token, the FIC of the user_fic leg (docs/entra.md#token-claims "T2"). */
export function mintT2(ctx: MintContext, agent: EmulatedAgent): Promise<string> {
  return sign(ctx.key, {
    aud: TOKEN_EXCHANGE_APP_ID,
    iss: v2Issuer(ctx.authorityHost, ctx.tenantId),
    ...times(ctx.now, EXCHANGE_TOKEN_LIFETIME_SEC),
    azp: agent.appId,
    azpacr: '2',
    idtyp: 'app',
    oid: agent.appId,
    sub: agent.appId,
    tid: ctx.tenantId,
    uti: uti(),
    ver: '2.0',
    xms_act_fct: FACETS_AGENT,
    xms_sub_fct: FACETS_AGENT,
    xms_idrel: '7 28',
    xms_par_app_azp: agent.parentBlueprintId,
  });
}

export interface AppTokenSubject {
  appId: string;
  /** Service principal object id (an agent identity's equals its appId, docs/entra.md#objects-and-identifiers). */
  oid: string;
  displayName: string;
  /** Present for agent identities: the blueprint, carried as xms_par_app_azp. */
  parentBlueprintId?: string;
}

/** App-only resource token (TR), or the blueprint's own Graph token (docs/entra.md#token-claims "App-only resource token", docs/entra.md#blueprint-only-tokens). */
export function mintAppToken(
  ctx: MintContext,
  who: AppTokenSubject,
  resource: EmulatedResource,
  roles: string[],
  lifetimeSec = resource.lifetimeSec,
): Promise<string> {
  const isAgent = who.parentBlueprintId !== undefined;
  const facets = isAgent ? FACETS_AGENT : FACETS_BLUEPRINT;
  const versioned =
    resource.accessTokenVersion === 1
      ? {
          aud: resource.uri,
          iss: v1Issuer(ctx.tenantId),
          appid: who.appId,
          appidacr: '2',
          app_displayname: who.displayName,
          ver: '1.0',
        }
      : {
          aud: resource.appId,
          iss: v2Issuer(ctx.authorityHost, ctx.tenantId),
          azp: who.appId,
          azpacr: '2',
          ver: '2.0',
        };
  return sign(ctx.key, {
    ...versioned,
    ...times(ctx.now, lifetimeSec),
    idtyp: 'app',
    oid: who.oid,
    sub: who.oid,
    tid: ctx.tenantId,
    uti: uti(),
    // Entra omits `roles` when the client holds no app role on the resource; the token is still issued.
    ...(roles.length > 0 ? { roles } : {}),
    xms_act_fct: facets,
    xms_sub_fct: facets,
    xms_idrel: '7',
    ...(isAgent ? { xms_par_app_azp: who.parentBlueprintId } : {}),
  });
}

export interface TokenUser {
  oid: string;
  upn: string;
  displayName: string;
}

export interface UserTokenSpec {
  user: TokenUser;
  /** The application the token was issued to (azp / appid). */
  clientId: string;
  /** azpacr/appidacr: '0' public client, '2' assertion. */
  clientAuth: '0' | '2';
  scp: string[];
  lifetimeSec: number;
  /** Agent-actor tokens (OBO by an agent, agent user): facets and parent blueprint. */
  agent?: { parentBlueprintId: string; agentUser: boolean };
  /**
   * `idtyp: "user"` is an optional claim (optional-claims-reference): Graph tokens carry it, a custom
   * API's (the blueprint's, for Tc) only when configured. Default true.
   */
  idtyp?: boolean;
}

/** A delegated (user) access token for `resource` (OBO, user_fic) shaped by the resource's token version. */
export function mintUserToken(ctx: MintContext, resource: EmulatedResource, spec: UserTokenSpec): Promise<string> {
  const versioned =
    resource.accessTokenVersion === 1
      ? {
          aud: resource.uri,
          iss: v1Issuer(ctx.tenantId),
          appid: spec.clientId,
          appidacr: spec.clientAuth,
          unique_name: spec.user.upn,
          ver: '1.0',
        }
      : {
          aud: resource.appId,
          iss: v2Issuer(ctx.authorityHost, ctx.tenantId),
          azp: spec.clientId,
          azpacr: spec.clientAuth,
          preferred_username: spec.user.upn,
          ver: '2.0',
        };
  return signUserToken(ctx, versioned, resource.uri, spec);
}

/**
 * Tc: the human user's v2 token for a blueprint's exposed API (aud = blueprint appId, docs/entra.md#on-behalf-of-a-user), without
 * `idtyp`: a blueprint does not configure that optional claim, so OBO must not depend on it.
 */
export function mintBlueprintUserToken(
  ctx: MintContext,
  blueprintAppId: string,
  spec: Omit<UserTokenSpec, 'idtyp'>,
): Promise<string> {
  const versioned = {
    aud: blueprintAppId,
    iss: v2Issuer(ctx.authorityHost, ctx.tenantId),
    azp: spec.clientId,
    azpacr: spec.clientAuth,
    preferred_username: spec.user.upn,
    ver: '2.0',
  };
  return signUserToken(ctx, versioned, blueprintAppId, { ...spec, idtyp: false });
}

function signUserToken(
  ctx: MintContext,
  versioned: Record<string, unknown>,
  audienceKey: string,
  spec: UserTokenSpec,
): Promise<string> {
  const agent = spec.agent;
  return sign(ctx.key, {
    ...versioned,
    ...times(ctx.now, spec.lifetimeSec),
    ...(spec.idtyp === false ? {} : { idtyp: 'user' }),
    name: spec.user.displayName,
    oid: spec.user.oid,
    upn: spec.user.upn,
    scp: spec.scp.join(' '),
    sub: pairwiseSub(spec.user.oid, audienceKey),
    tid: ctx.tenantId,
    uti: uti(),
    ...(agent
      ? {
          xms_act_fct: FACETS_AGENT,
          // [inf] No capture shows xms_sub_fct of a human OBO token; it is left out rather than guessed.
          ...(agent.agentUser ? { xms_sub_fct: FACETS_AGENT_USER, xms_idrel: '1 12' } : {}),
          xms_par_app_azp: agent.parentBlueprintId,
        }
      : {}),
  });
}

/** v2 id_token for user flows, so msal-node can build an account (docs/entra.md#responses-and-error-bodies). */
export function mintIdToken(ctx: MintContext, clientId: string, user: TokenUser): Promise<string> {
  return sign(ctx.key, {
    aud: clientId,
    iss: v2Issuer(ctx.authorityHost, ctx.tenantId),
    ...times(ctx.now, ID_TOKEN_LIFETIME_SEC),
    name: user.displayName,
    oid: user.oid,
    preferred_username: user.upn,
    sub: pairwiseSub(user.oid, clientId),
    tid: ctx.tenantId,
    ver: '2.0',
  });
}

/** msal-node builds the account's home id from client_info: base64url {"uid":oid,"utid":tid} (docs/entra.md#responses-and-error-bodies). */
export function clientInfo(oid: string, tenantId: string): string {
  return Buffer.from(JSON.stringify({ uid: oid, utid: tenantId })).toString('base64url');
}

/** Success body common to all grants (docs/entra.md#responses-and-error-bodies). */
export function tokenResponse(
  accessToken: string,
  lifetimeSec: number,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const exp = expiresIn(lifetimeSec);
  return {
    token_type: 'Bearer',
    ...(extra.scope !== undefined ? { scope: extra.scope } : {}),
    expires_in: exp,
    ext_expires_in: exp,
    ...(lifetimeSec > REFRESH_IN_THRESHOLD_SEC ? { refresh_in: Math.floor(lifetimeSec / 2) } : {}),
    access_token: accessToken,
    ...extra,
  };
}
