/**
 * Confidential-client authentication on the token endpoint (docs/entra.md#the-token-endpoint, docs/entra.md#federated-credential-matching, docs/entra.md#error-codes):
 *  - a blueprint presents an external OIDC JWT matched against its federated identity credentials;
 *  - an agent identity presents T1, its blueprint's token-exchange token for it (docs/entra.md#autonomous-two-legs leg 2).
 * Order of checks: FIC lookup on the *unverified* iss/sub/aud (it picks the issuer to trust), then
 * the issuer's keys over HTTP, then the signature, then the time window.
 */
import { importJWK, type JWK } from 'jose';
import type { EmulatedAgent, EmulatedBlueprint, EmulatedFic } from './model.ts';
import {
  CLIENT_ASSERTION_TYPE_JWT_BEARER,
  ENTRA_ISSUER_HOSTS,
  MAX_EXTERNAL_ASSERTION_LIFETIME_SEC,
  TOKEN_EXCHANGE_APP_ID,
  TOKEN_EXCHANGE_URI_PREFIX,
} from './constants.ts';
import type { GrantContext } from './context.ts';
import { findClient, type DirectoryClient } from './directory.ts';
import { entraError } from './errors.ts';
import { guidToB64url, parseEid1Subject } from './guid.ts';
import { audiences, claimNumber, claimString, parseJwt, rs256SignatureValid, type ParsedJwt } from './jwt.ts';
import { outsideValidity, readOwnToken } from './own-tokens.ts';

/** How FIC mismatches are answered: current Entra's code per field, or the legacy AADSTS70021. */
export type FicErrorStyle = 'per-field' | 'legacy';

export type AuthenticatedClient =
  | { kind: 'blueprint'; blueprint: EmulatedBlueprint }
  | { kind: 'agent'; agent: EmulatedAgent; blueprint: EmulatedBlueprint };

/** Looks up `client_id` and checks its credential; throws the Entra error otherwise. */
export async function authenticateConfidentialClient(
  ctx: GrantContext,
  clientId: string,
): Promise<AuthenticatedClient> {
  const client: DirectoryClient = findClient(ctx.tenant, clientId);
  const secret = ctx.form.get('client_secret');
  const assertion = ctx.form.get('client_assertion');
  if (client.kind === 'clientApp') {
    // Client apps are public clients in the emulated directory: they cannot run confidential grants.
    if (secret !== undefined || assertion !== undefined) throw entraError(700025);
    throw entraError(7000218);
  }
  // client_credentials without a credential: AADSTS7000216 in current captures (row in errors.ts);
  // other grants keep 7000218 ("must contain 'client_assertion' or 'client_secret'").
  if (secret === undefined && assertion === undefined)
    throw ctx.form.get('grant_type') === 'client_credentials' ? entraError(7000216) : entraError(7000218);
  // No client secrets exist in the emulated directory (agents cannot hold any, docs/entra.md#objects-and-identifiers), so any secret is wrong.
  if (secret !== undefined) throw entraError(7000215, clientId);
  const assertionType = ctx.form.require('client_assertion_type');
  // [inf] The code for an unknown assertion type is undocumented; it is treated as "no credential".
  if (assertionType !== CLIENT_ASSERTION_TYPE_JWT_BEARER) throw entraError(7000218);
  if (client.kind === 'blueprint') {
    await verifyFederatedAssertion(ctx, client.blueprint, assertion!);
    return client;
  }
  await verifyT1(ctx, client.agent, assertion!);
  return client;
}

// ─── Blueprint: external OIDC assertion against its FICs (docs/entra.md#federated-credential-matching) ───

async function verifyFederatedAssertion(ctx: GrantContext, bp: EmulatedBlueprint, raw: string): Promise<ParsedJwt> {
  const jwt = parseJwt(raw);
  if (!jwt) throw entraError(50027);
  // docs/entra.md#federated-credential-matching, docs/entra.md#open-questions: only RS256 issuers are supported; the rejection code is [inf].
  if (jwt.header.alg !== 'RS256')
    throw entraError(700027, `The assertion algorithm '${String(jwt.header.alg)}' is not supported; use RS256.`);
  if (bp.fics.length === 0) throw entraError(70025);

  const iss = claimString(jwt.claims, 'iss') ?? '';
  const sub = claimString(jwt.claims, 'sub') ?? '';
  const aud = audiences(jwt.claims);
  if (isEntraHost(iss, ctx.authorityHost)) throw entraError(700222);
  matchFic(ctx, bp.fics, iss, sub, aud);

  await verifyExternalSignature(ctx, jwt, iss);

  const out = outsideValidity(jwt, ctx.now);
  if (out) throw entraError(700024, ctx.now, out.nbf, out.exp);
  // Entra measures exp − iat; a missing iat counts as 0, which is how it effectively requires iat.
  const iat = claimNumber(jwt.claims, 'iat') ?? 0;
  const exp = claimNumber(jwt.claims, 'exp') ?? 0;
  if (exp - iat > MAX_EXTERNAL_ASSERTION_LIFETIME_SEC) throw entraError(70023, iat, exp);
  return jwt;
}

/**
 * Exact, case-sensitive, no wildcards, a trailing '/' counts
 * (https://learn.microsoft.com/entra/identity-platform/reference-breaking-changes#federated-identity-credentials-now-use-case-sensitive-matching).
 * [inf] An `aud` array matches when any member equals the FIC's single audience. [inf] The order of
 * the per-field checks (issuer, then subject, then audience) is not documented; each code names the
 * first field no FIC matches, as the captures in errors.ts do.
 */
function matchFic(ctx: GrantContext, fics: EmulatedFic[], iss: string, sub: string, aud: string[]): EmulatedFic {
  const fic = fics.find((f) => f.issuer === iss && f.subject === sub && aud.includes(f.audiences[0]));
  if (fic) return fic;
  if (ctx.ficErrors === 'legacy') throw entraError(70021, iss, sub, aud.join(','));
  const byIssuer = fics.filter((f) => f.issuer === iss);
  if (byIssuer.length === 0) throw entraError(700211, iss);
  const bySubject = byIssuer.filter((f) => f.subject === sub);
  if (bySubject.length === 0) {
    if (byIssuer.some((f) => f.subject.toLowerCase() === sub.toLowerCase())) throw entraError(7002138, sub);
    throw entraError(700213, sub);
  }
  // Another cloud's token-exchange audience (the family shares a prefix): AADSTS70022204.
  const otherCloud = aud.find((a) => a.startsWith(TOKEN_EXCHANGE_URI_PREFIX) && a !== ctx.tokenExchangeUri);
  if (otherCloud !== undefined) throw entraError(70022204, otherCloud);
  throw entraError(700212, aud.join(','));
}

function isEntraHost(iss: string, authorityHost: string): boolean {
  try {
    const host = new URL(iss).hostname.toLowerCase();
    return ENTRA_ISSUER_HOSTS.has(host) || host === new URL(authorityHost).hostname.toLowerCase();
  } catch {
    return false;
  }
}

async function verifyExternalSignature(ctx: GrantContext, jwt: ParsedJwt, iss: string): Promise<void> {
  const kid = jwt.header.kid;
  let { keys, fromCache } = await ctx.issuerKeys.get(iss);
  let candidates = signingCandidates(keys, kid);
  if (candidates.length === 0 && fromCache) {
    // An unknown kid may be a key the issuer rotated in since the keys were cached: refetch once.
    ({ keys } = await ctx.issuerKeys.get(iss, true));
    candidates = signingCandidates(keys, kid);
  }
  if (candidates.length === 0) throw entraError(700027, `The key was not found. kid: '${String(kid)}'`);
  for (const jwk of candidates) {
    let key: Awaited<ReturnType<typeof importJWK>>;
    try {
      key = await importJWK(jwk, 'RS256');
    } catch {
      continue;
    }
    if (await rs256SignatureValid(jwt.raw, key)) return;
  }
  throw entraError(700027, 'The signature is invalid.');
}

/** RSA keys usable for RS256 with the assertion's kid (all of them when the header carries none). */
function signingCandidates(keys: JWK[], kid: string | undefined): JWK[] {
  return keys.filter(
    (k) => k.kty === 'RSA' && (k.alg === undefined || k.alg === 'RS256') && (kid === undefined || k.kid === kid),
  );
}

// ─── Agent identity: T1 as its client assertion (docs/entra.md#autonomous-two-legs leg 2) ───

/**
 * T1 must be the emulator's own token for this tenant, current, and bound to this agent:
 * aud = token-exchange app, azp = the agent's parent blueprint, and the fmi_path at the end of `sub`
 * = client_id (docs/entra.md#autonomous-two-legs "What Entra checks", read through the real T1 of docs/entra.md#token-claims). The binding failures share
 * AADSTS7002111, the one code seen in the wild for them (docs/entra.md#error-codes [3p]; exact codes undocumented, docs/entra.md#open-questions).
 */
async function verifyT1(ctx: GrantContext, agent: EmulatedAgent, raw: string): Promise<void> {
  const own = await readOwnToken(ctx, raw);
  if (!own.ok) {
    if (own.reason === 'malformed') throw entraError(50027);
    if (own.reason === 'signature') throw entraError(700027, 'The assertion is not signed by this authority.');
    throw entraError(
      7002111,
      agent.appId,
      `The assertion issuer '${String(parseJwt(raw)?.claims.iss)}' is not this tenant.`,
    );
  }
  const { claims } = own.jwt;
  const out = outsideValidity(own.jwt, ctx.now);
  if (out) throw entraError(700024, ctx.now, out.nbf, out.exp);

  if (claims.aud !== TOKEN_EXCHANGE_APP_ID) {
    throw entraError(7002111, agent.appId, `The assertion audience must be '${TOKEN_EXCHANGE_APP_ID}'.`);
  }
  if (claimString(claims, 'azp')?.toLowerCase() !== agent.parentBlueprintId.toLowerCase()) {
    throw entraError(
      7002111,
      agent.appId,
      `The assertion was issued to '${String(claims.azp)}', not to the agent's blueprint.`,
    );
  }
  const sub = parseEid1Subject(claimString(claims, 'sub') ?? '');
  const bound =
    sub !== null &&
    sub.tenantB64 === guidToB64url(ctx.tenant.tenantId) &&
    sub.appB64 === guidToB64url(agent.parentBlueprintId) &&
    sub.fmiPath.toLowerCase() === agent.appId.toLowerCase();
  if (!bound) throw entraError(7002111, agent.appId, "The assertion's fmi_path does not name this agent identity.");
}
