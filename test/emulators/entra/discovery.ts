/**
 * OIDC discovery (v2 and v1) and signing keys (docs/entra.md#what-the-emulator-reproduces). MSAL needs issuer,
 * authorization_endpoint, token_endpoint and jwks_uri (docs/entra.md#msal-node); the rest mirrors Entra's documents.
 *
 * `issuer` is real-shaped (the authority host's, or sts.windows.net for v1), as in the tokens, so
 * that a validator checks the same `iss` as against Entra. Every URL, `jwks_uri` first, points at the
 * emulator itself (`serveBase`, its own origin): a downstream API configured "the Microsoft way"
 * (authority + discovery, https://learn.microsoft.com/entra/identity-platform/access-tokens#validate-tokens)
 * fetches the emulator's keys and never reaches the real service.
 */
import type { EmulatedTenant } from './model.ts';
import { MULTI_TENANT_ALIASES, resolveTenant } from './directory.ts';
import { EntraError } from './errors.ts';

/** The consumers (MSA) tenant: /consumers discovery names it as the issuer's tenant. */
const CONSUMERS_TENANT_ID = '9188040d-6c67-4c5b-b112-36a304b66dad';

const CLOUD_FIELDS = {
  tenant_region_scope: null,
  cloud_instance_name: 'microsoftonline.com',
  cloud_graph_host_name: 'graph.windows.net',
  msgraph_host: 'graph.microsoft.com',
  rbac_url: 'https://pas.windows.net',
};

/** v2: GET /{tenant}/v2.0/.well-known/openid-configuration. */
export function openIdConfiguration(
  authorityHost: string,
  serveBase: string,
  segment: string,
  issuerTenant: string,
): Record<string, unknown> {
  const base = `${serveBase}/${segment}`;
  return {
    token_endpoint: `${base}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${base}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: `${authorityHost}/${issuerTenant}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: 'https://graph.microsoft.com/oidc/userinfo',
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    claims_supported: [
      'sub',
      'iss',
      'cloud_instance_name',
      'cloud_instance_host_name',
      'cloud_graph_host_name',
      'msgraph_host',
      'aud',
      'exp',
      'iat',
      'auth_time',
      'acr',
      'nonce',
      'preferred_username',
      'name',
      'tid',
      'ver',
      'at_hash',
      'c_hash',
      'email',
    ],
    kerberos_endpoint: `${base}/kerberos`,
    ...CLOUD_FIELDS,
  };
}

/**
 * v1: GET /{tenant}/.well-known/openid-configuration, whose issuer is the v1 one
 * (https://sts.windows.net/{tid}/, the `iss` of v1 access tokens such as Graph's).
 */
export function openIdConfigurationV1(
  serveBase: string,
  segment: string,
  issuerTenant: string,
): Record<string, unknown> {
  const base = `${serveBase}/${segment}`;
  return {
    token_endpoint: `${base}/oauth2/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${base}/discovery/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'token id_token', 'token'],
    scopes_supported: ['openid'],
    issuer: `https://sts.windows.net/${issuerTenant}/`,
    microsoft_multi_refresh_token: true,
    authorization_endpoint: `${base}/oauth2/authorize`,
    device_authorization_endpoint: `${base}/oauth2/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/oauth2/logout`,
    claims_supported: [
      'sub',
      'iss',
      'cloud_instance_name',
      'cloud_instance_host_name',
      'cloud_graph_host_name',
      'msgraph_host',
      'aud',
      'exp',
      'iat',
      'auth_time',
      'acr',
      'amr',
      'nonce',
      'email',
      'given_name',
      'family_name',
      'nickname',
    ],
    kerberos_endpoint: `${base}/kerberos`,
    ...CLOUD_FIELDS,
  };
}

/**
 * The tenant segment of a discovery or keys URL: a known tenant, or an alias whose issuer is the
 * `{tenantid}` template (consumers: the MSA tenant), as Entra publishes them. Throws like the token
 * endpoint, except that discovery answers `invalid_tenant` (what Entra's discovery endpoint says for
 * an unknown tenant; the token endpoint says invalid_request).
 */
export function discoveryTenant(
  tenants: ReadonlyMap<string, EmulatedTenant>,
  raw: string,
): { segment: string; issuerTenant: string } {
  const lower = raw.toLowerCase();
  if (MULTI_TENANT_ALIASES.has(lower))
    return { segment: lower, issuerTenant: lower === 'consumers' ? CONSUMERS_TENANT_ID : '{tenantid}' };
  try {
    const tenant = resolveTenant(tenants, raw);
    return { segment: tenant.tenantId, issuerTenant: tenant.tenantId };
  } catch (e) {
    if (e instanceof EntraError) throw new EntraError(e.code, e.status, 'invalid_tenant', e.message);
    throw e;
  }
}
