/**
 * What the node can tell about a parameter's value before anything is sent: an expression n8n did not
 * resolve (typed in Fixed mode, or pasted with its "=") and a user token that cannot be an Entra access
 * token. Such values never reach the bridge, so a typo is not reported as "Entra rejected the token".
 */

/** `{{ … }}` or a leading "=": n8n resolves neither in a value that reaches the node as text. */
export function looksLikeUnresolvedExpression(value: string): boolean {
  const v = value.trim();
  return v.startsWith('=') || v.startsWith('{{') || /\{\{[\s\S]*\}\}/.test(v);
}

/** Entra access tokens are JWTs in the JWS compact form: three base64url parts (RFC 7515 §7.1). */
export function looksLikeCompactJwt(value: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(value.trim());
}

/** Field names of an input item, to say what an expression could have meant; never their values. */
export function fieldNames(json: unknown, max = 20): string {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return '(none)';
  const names = Object.keys(json);
  if (names.length === 0) return '(none)';
  return names.length > max ? `${names.slice(0, max).join(', ')}, …` : names.join(', ');
}
