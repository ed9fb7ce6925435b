import { GRANT_TYPE_TOKEN_EXCHANGE } from '../../src/constants.ts';

export interface TokenResponse {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** POST /token as a form, with grant_type filled in; `raw` sends a body exactly as given. */
export async function postToken(
  bridge: string,
  fields: Record<string, string>,
  opts: { path?: string; raw?: string; contentType?: string } = {},
): Promise<TokenResponse> {
  const res = await fetch(`${bridge}${opts.path ?? '/token'}`, {
    method: 'POST',
    headers: { 'content-type': opts.contentType ?? 'application/x-www-form-urlencoded' },
    body: opts.raw ?? new URLSearchParams({ grant_type: GRANT_TYPE_TOKEN_EXCHANGE, ...fields }).toString(),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { unparsed: text };
  }
  return { status: res.status, headers: res.headers, body };
}
