/**
 * The client assertion the bridge signs for leg 1 (docs/architecture.md#the-leg-1-assertion): minted fresh for every
 * Entra call, never cached (Entra refuses a replayed assertion past its exp: AADSTS700024).
 */
import { SignJWT } from 'jose';
import { ASSERTION_LIFETIME_SEC } from '../constants.ts';
import type { IssuerKeys } from './keys.ts';

/** `audience` is the cloud's token-exchange audience (Config.entra.tokenExchangeAudience), equal to the FIC's. */
export async function mintBridgeAssertion(
  keys: IssuerKeys,
  p: { issuer: string; subject: string; audience: string; now: number },
): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: keys.current.kid })
    .setIssuer(p.issuer)
    .setSubject(p.subject)
    .setAudience(p.audience)
    .setIssuedAt(p.now)
    .setNotBefore(p.now)
    .setExpirationTime(p.now + ASSERTION_LIFETIME_SEC)
    .setJti(crypto.randomUUID())
    .sign(keys.current.privateKey);
}
