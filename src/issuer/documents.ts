/**
 * OIDC discovery and JWKS for the bridge as an issuer, exactly as Entra expects of an external
 * OIDC issuer (docs/architecture.md#the-bridge-as-an-oidc-issuer): `issuer` byte-equal to the assertions' `iss`
 * and to the FIC's issuer, RS256 only, `use: "sig"` on every key.
 */
import { GRANT_TYPE_TOKEN_EXCHANGE } from '../constants.ts';
import type { IssuerKeys } from './keys.ts';

export function discoveryDocument(issuer: string): Record<string, unknown> {
  return {
    issuer,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    token_endpoint: `${issuer}/token`,
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    grant_types_supported: [GRANT_TYPE_TOKEN_EXCHANGE],
    token_endpoint_auth_methods_supported: ['none'],
  };
}

export function jwksDocument(keys: IssuerKeys): { keys: Record<string, unknown>[] } {
  return { keys: [keys.current, ...(keys.next ? [keys.next] : [])].map((k) => ({ ...k.publicJwk })) };
}
