/** What every grant handler receives: the tenant, the form, the time, and the emulator's key material. */
import type { EmulatedTenant } from './model.ts';
import { entraError } from './errors.ts';
import type { IssuerKeyCache } from './issuer-keys.ts';
import type { FicErrorStyle } from './client-auth.ts';
import type { MintContext, SigningKey } from './tokens.ts';

/** The token request body. Empty values count as absent, as they do for Entra's "must contain" check. */
export class TokenForm {
  readonly #params: URLSearchParams;
  constructor(params: URLSearchParams) {
    this.#params = params;
  }
  get(name: string): string | undefined {
    const v = this.#params.get(name);
    return v === null || v === '' ? undefined : v;
  }
  /** The value, or AADSTS900144 naming the parameter (docs/entra.md#error-codes). */
  require(name: string): string {
    const v = this.get(name);
    if (v === undefined) throw entraError(900144, name);
    return v;
  }
}

export interface GrantContext {
  tenant: EmulatedTenant;
  form: TokenForm;
  now: number;
  authorityHost: string;
  key: SigningKey;
  issuerKeys: IssuerKeyCache;
  ficErrors: FicErrorStyle;
  /** This cloud's token-exchange audience (FIC audience, leg-1 and T2 resource). */
  tokenExchangeUri: string;
}

export function mintContext(ctx: GrantContext): MintContext {
  return { key: ctx.key, tenantId: ctx.tenant.tenantId, authorityHost: ctx.authorityHost, now: ctx.now };
}
