/**
 * OIDC discovery and signing keys, in the authority host's name (entra-agent-id.md §6.1). MSAL needs
 * issuer, authorization_endpoint, token_endpoint and jwks_uri (§4); the rest mirrors Entra's document.
 */
import type { EmulatedTenant } from './model.ts';
import { MULTI_TENANT_ALIASES, resolveTenant } from './directory.ts';
import { EntraError } from './errors.ts';

/** The consumers (MSA) tenant: /consumers discovery names it as the issuer's tenant. */
const CONSUMERS_TENANT_ID = '9188040d-6c67-4c5b-b112-36a304b66dad';

export function openIdConfiguration(authorityHost: string, segment: string, issuerTenant: string): Record<string, unknown> {
  const base = `${authorityHost}/${segment}`;
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
    claims_supported: ['sub', 'iss', 'cloud_instance_name', 'cloud_instance_host_name', 'cloud_graph_host_name', 'msgraph_host', 'aud', 'exp', 'iat', 'auth_time', 'acr', 'nonce', 'preferred_username', 'name', 'tid', 'ver', 'at_hash', 'c_hash', 'email'],
    kerberos_endpoint: `${base}/kerberos`,
    tenant_region_scope: null,
    cloud_instance_name: 'microsoftonline.com',
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: 'graph.microsoft.com',
    rbac_url: 'https://pas.windows.net',
  };
}

/**
 * The tenant segment of a discovery or keys URL: a known tenant, or an alias whose issuer is the
 * `{tenantid}` template (consumers: the MSA tenant), as Entra publishes them. Throws like the token
 * endpoint, except that discovery answers `invalid_tenant` (what Entra's discovery endpoint says for
 * an unknown tenant; the token endpoint says invalid_request).
 */
export function discoveryTenant(tenants: ReadonlyMap<string, EmulatedTenant>, raw: string): { segment: string; issuerTenant: string } {
  const lower = raw.toLowerCase();
  if (MULTI_TENANT_ALIASES.has(lower)) return { segment: lower, issuerTenant: lower === 'consumers' ? CONSUMERS_TENANT_ID : '{tenantid}' };
  try {
    const tenant = resolveTenant(tenants, raw);
    return { segment: tenant.tenantId, issuerTenant: tenant.tenantId };
  } catch (e) {
    if (e instanceof EntraError) throw new EntraError(e.code, e.status, 'invalid_tenant', e.message);
    throw e;
  }
}
