/**
 * POST /{tenant}/oauth2/v2.0/token: tenant resolution, grant dispatch and the Entra error mapping
 * (docs/entra.md#the-token-endpoint, docs/entra.md#responses-and-error-bodies, docs/entra.md#error-codes). Faults and call recording live in index.ts, around this.
 */
import { randomUUID } from 'node:crypto';
import type { EmulatedTenant } from './model.ts';
import { GRANT_JWT_BEARER } from './constants.ts';
import type { FicErrorStyle } from './client-auth.ts';
import { TokenForm, type GrantContext } from './context.ts';
import { findBlueprint, MULTI_TENANT_ALIASES, resolveTenant } from './directory.ts';
import { EntraError, entraError, errorBody } from './errors.ts';
import type { IssuerKeyCache } from './issuer-keys.ts';
import type { SigningKey } from './tokens.ts';
import { clientCredentials } from './grants/client-credentials.ts';
import { onBehalfOf } from './grants/obo.ts';
import { password } from './grants/password.ts';
import { userFic } from './grants/user-fic.ts';

export interface TokenEndpointDeps {
  tenants: ReadonlyMap<string, EmulatedTenant>;
  key: SigningKey;
  authorityHost: string;
  clock: () => number;
  issuerKeys: IssuerKeyCache;
  ficErrors: FicErrorStyle;
  /** This cloud's token-exchange audience, e.g. api://AzureADTokenExchange. */
  tokenExchangeUri: string;
}

export interface TokenOutcome {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string>;
  aadsts?: number;
}

export type Leg = 'leg1' | 'leg2' | 't2' | 'obo' | 'user_fic' | 'ropc' | 'other';

const GRANTS: Record<string, (ctx: GrantContext) => Promise<Record<string, unknown>>> = {
  client_credentials: clientCredentials,
  [GRANT_JWT_BEARER]: onBehalfOf,
  user_fic: userFic,
  password,
};

export async function handleTokenRequest(
  deps: TokenEndpointDeps,
  rawTenant: string,
  params: URLSearchParams,
  correlationId: string,
): Promise<TokenOutcome> {
  const now = deps.clock();
  try {
    // Agent flows are tenant-bound (docs/entra.md#the-token-endpoint); msal refuses them client-side, Entra with AADSTS9001023.
    // (Entra's text names /common and /consumers; the emulator refuses /organizations the same way.)
    if (MULTI_TENANT_ALIASES.has(rawTenant.toLowerCase())) throw entraError(9001023);
    const tenant = resolveTenant(deps.tenants, rawTenant);
    const form = new TokenForm(params);
    const grantType = form.require('grant_type');
    const grant = GRANTS[grantType];
    if (!grant) throw entraError(70003, grantType);
    const body = await grant({
      tenant,
      form,
      now,
      authorityHost: deps.authorityHost,
      key: deps.key,
      issuerKeys: deps.issuerKeys,
      ficErrors: deps.ficErrors,
      tokenExchangeUri: deps.tokenExchangeUri,
    });
    return { status: 200, body, headers: {} };
  } catch (e) {
    if (!(e instanceof EntraError)) throw e;
    return errorOutcome(e, { now, correlationId, authorityHost: deps.authorityHost });
  }
}

export function errorOutcome(
  e: EntraError,
  ctx: { now: number; correlationId: string; authorityHost: string },
): TokenOutcome {
  const body = errorBody({ code: e.code, error: e.error, message: e.message }, { ...ctx, traceId: randomUUID() });
  return { status: e.status, body, headers: e.headers, aadsts: e.code };
}

/** Which step of the agent flows a request is, judged from what it asks (recorded in `calls`). */
export function classifyLeg(
  deps: Pick<TokenEndpointDeps, 'tenants' | 'tokenExchangeUri'>,
  rawTenant: string,
  params: URLSearchParams,
): Leg {
  switch (params.get('grant_type')) {
    case 'client_credentials': {
      if (params.get('fmi_path')) return 'leg1';
      const tenant = deps.tenants.get(rawTenant.toLowerCase());
      const clientId = params.get('client_id') ?? '';
      if (tenant && findBlueprint(tenant, clientId)) return 'other';
      return params.get('scope')?.trim() === `${deps.tokenExchangeUri}/.default` ? 't2' : 'leg2';
    }
    case GRANT_JWT_BEARER:
      return params.get('requested_token_use') === 'on_behalf_of' ? 'obo' : 'other';
    case 'user_fic':
      return 'user_fic';
    case 'password':
      return 'ropc';
    default:
      return 'other';
  }
}
