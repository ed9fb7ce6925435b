/**
 * Any OIDC issuer without a profile: the principal is one claim (default `sub`), and the entry's
 * `attributes` list names the other claims a rule may match.
 */
import { accept } from '../../../src/verify/contract.ts';
import { isRefusal, requiredString } from '../claims.ts';
import { DEFAULT_LIFETIME_SEC } from '../constants.ts';
import type { OidcProfile } from './profile.ts';

export const genericProfile: OidcProfile = {
  proofKind: 'oidc-jwt',
  attributes: [],
  defaultLifetimeSec: DEFAULT_LIFETIME_SEC.generic,
  toWorkload(payload, _header, entry) {
    const principal = requiredString(payload, entry.principalClaim ?? 'sub');
    if (isRefusal(principal)) return principal;
    return accept({ principal, attributes: {} });
  },
};
