/**
 * Which Entra cloud the bridge talks to decides its token-exchange audience (see
 * ENTRA_TOKEN_EXCHANGE_AUDIENCE_BY_HOST in ../constants.ts): derived from the authority host, or
 * configured for a cloud the table does not know.
 */
import { ENTRA_TOKEN_EXCHANGE_AUDIENCE_BY_HOST } from '../constants.ts';

/** The token-exchange audience of the cloud at `authorityHost` (an https URL), if it is a known one. */
export function tokenExchangeAudienceFor(authorityHost: string): string | undefined {
  let host: string;
  try {
    host = new URL(authorityHost).hostname.toLowerCase();
  } catch {
    return undefined;
  }
  return ENTRA_TOKEN_EXCHANGE_AUDIENCE_BY_HOST[host];
}

/** The app-only scope that asks for a token-exchange token: `<audience>/.default` (leg 1, T2). */
export function tokenExchangeScope(audience: string): string {
  return `${audience}/.default`;
}
