/**
 * SPIFFE JWT-SVIDs (https://github.com/spiffe/spiffe/blob/main/standards/JWT-SVID.md). The principal
 * is the SPIFFE ID in `sub` (§3.1), which must belong to the entry's trust domain; `trust_domain` is an
 * attribute. The spec's other rules and how the bridge meets them:
 * - `alg` (§2.1): RS/ES/PS 256-512 only; an entry listing EdDSA is refused at load.
 * - `typ` (§2.3): absent, `JWT` or `JOSE`.
 * - `aud` (§3.2): required and must contain the validator's value; the bridge accepts exactly one
 *   audience, as its Security Considerations (Audience) strongly recommend, since a token for several parties is replayable by each.
 * - `exp` (§3.3): required (and, for the bridge, `iat` too: SPIRE sets it).
 */
import { accept, refuse, type Refusal, type Result } from '../../../src/verify/contract.ts';
import { isRefusal, requiredString } from '../claims.ts';
import { DEFAULT_LIFETIME_SEC, MAX_SPIFFE_ID_BYTES } from '../constants.ts';
import type { OidcProfile } from './profile.ts';

/** JWT-SVID §2.1: the algorithms of RFC 7518 §3.3-3.5. */
export const JWT_SVID_ALGORITHMS: ReadonlySet<string> = new Set([
  'RS256',
  'RS384',
  'RS512',
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
]);
const JWT_SVID_TYP: ReadonlySet<string> = new Set(['JWT', 'JOSE']);

/** SPIFFE-ID §2.1 trust domain and §2.2 path segments (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md): [a-zA-Z0-9.-_], no empty, "." or ".." segment. */
const TRUST_DOMAIN_CHARS = /^[a-z0-9._-]+$/;
const SEGMENT_CHARS = /^[A-Za-z0-9._-]+$/;

export interface SpiffeId {
  trustDomain: string;
  path: string;
}

/** Parses a workload SPIFFE ID strictly: scheme, trust domain, a non-empty path; no port, user, query, fragment. */
export function parseSpiffeId(value: string): SpiffeId | undefined {
  if (new TextEncoder().encode(value).length > MAX_SPIFFE_ID_BYTES || !value.startsWith('spiffe://')) return undefined;
  const rest = value.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const trustDomain = rest.slice(0, slash);
  const path = rest.slice(slash);
  if (!TRUST_DOMAIN_CHARS.test(trustDomain)) return undefined;
  const segments = path.slice(1).split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..' || !SEGMENT_CHARS.test(s))) return undefined;
  return { trustDomain, path };
}

export const spiffeProfile: OidcProfile = {
  proofKind: 'oidc-spiffe-jwt-svid',
  attributes: ['trust_domain'],
  defaultLifetimeSec: DEFAULT_LIFETIME_SEC.spiffe,
  problems(entry) {
    const outside = (entry.algorithms ?? []).filter((a) => !JWT_SVID_ALGORITHMS.has(a));
    return outside.length === 0
      ? []
      : [`algorithms: ${outside.join(', ')} is not a JWT-SVID algorithm (JWT-SVID §2.1)`];
  },
  toWorkload(payload, header, entry): Result<{ principal: string; attributes: Record<string, string> }> {
    if (header.typ !== undefined && !JWT_SVID_TYP.has(header.typ)) {
      return refuse('proof_typ_mismatch', `typ ${JSON.stringify(header.typ)} is not JWT or JOSE (JWT-SVID §2.3)`, {
        fields: { claim: 'typ', received: JSON.stringify(header.typ), expected: 'JWT JOSE absent' },
      });
    }
    const sub = requiredString(payload, 'sub');
    if (isRefusal(sub)) return sub;
    const id = parseSpiffeId(sub);
    if (id === undefined)
      return badSub(
        'sub is not a workload SPIFFE ID (spiffe://<trust domain>/<path>)',
        'spiffe://<trust domain>/<path>',
      );
    if (id.trustDomain !== entry.trustDomain)
      return badSub(
        `SPIFFE ID is outside trust domain ${entry.trustDomain}`,
        `spiffe://${entry.trustDomain}/…`,
        id.trustDomain,
      );
    return accept({ principal: sub, attributes: { trust_domain: id.trustDomain } });
  },
};

function badSub(detail: string, expected: string, received?: string): Refusal {
  return refuse('proof_claim', detail, {
    fields: { claim: 'sub', expected, ...(received !== undefined ? { received: `trust domain ${received}` } : {}) },
  });
}
