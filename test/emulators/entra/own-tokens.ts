/**
 * Reading tokens the emulator itself issued (T1, T2, the user token Tc) when they come back as
 * assertions. "Own" means: RS256 under the emulator's key and `kid`, issued for *this* tenant — the
 * emulator signs for every tenant with one key, so the issuer check is what keeps tenants apart.
 */
import { CLOCK_SKEW_SEC } from './constants.ts';
import type { GrantContext } from './context.ts';
import { entraError } from './errors.ts';
import { claimNumber, parseJwt, rs256SignatureValid, type ParsedJwt } from './jwt.ts';
import { v1Issuer, v2Issuer } from './tokens.ts';

export type OwnTokenResult = { ok: true; jwt: ParsedJwt } | { ok: false; reason: 'malformed' | 'signature' | 'issuer' };

export async function readOwnToken(ctx: GrantContext, raw: string): Promise<OwnTokenResult> {
  const jwt = parseJwt(raw);
  if (!jwt) return { ok: false, reason: 'malformed' };
  if (jwt.header.alg !== 'RS256' || jwt.header.kid !== ctx.key.kid) return { ok: false, reason: 'signature' };
  if (!(await rs256SignatureValid(raw, ctx.key.publicKey))) return { ok: false, reason: 'signature' };
  const iss = jwt.claims.iss;
  const tid = ctx.tenant.tenantId;
  if (iss !== v2Issuer(ctx.authorityHost, tid) && iss !== v1Issuer(tid)) return { ok: false, reason: 'issuer' };
  return { ok: true, jwt };
}

/** `exp` missing or past the skew, or `nbf` beyond it (docs/entra.md#open-questions: Entra's real skew is undocumented). */
export function outsideValidity(jwt: ParsedJwt, now: number): { nbf: number; exp: number } | null {
  const exp = claimNumber(jwt.claims, 'exp') ?? 0;
  const nbf = claimNumber(jwt.claims, 'nbf') ?? 0;
  return now > exp + CLOCK_SKEW_SEC || nbf > now + CLOCK_SKEW_SEC ? { nbf, exp } : null;
}

/**
 * A token the caller hands back as a *user-side* assertion (Tc in OBO, T2 in user_fic): the emulator's
 * own, for this tenant, within its validity. Failures are the OBO family of codes (docs/entra.md#error-codes):
 * malformed → 50027, not ours → 50013, expired → 500133.
 */
export async function requireOwnUserAssertion(ctx: GrantContext, raw: string): Promise<ParsedJwt> {
  const own = await readOwnToken(ctx, raw);
  if (!own.ok) {
    if (own.reason === 'malformed') throw entraError(50027);
    throw entraError(
      50013,
      own.reason === 'signature' ? 'Signature validation failed.' : 'The assertion was not issued by this tenant.',
    );
  }
  const out = outsideValidity(own.jwt, ctx.now);
  if (out) throw entraError(500133, ctx.now, out.exp);
  return own.jwt;
}
