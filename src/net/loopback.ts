/**
 * The one definition of "loopback" (where the sandbox's emulators live): an IPv4 literal in
 * 127.0.0.0/8, `localhost`, or the IPv6 literal `[::1]` (RFC 6761 §6.3, RFC 4291 §2.5.3). Not any
 * name that merely starts with "127." (127.evil.example).
 */
const LOOPBACK_HOSTS = new Set(['localhost', '[::1]']);
const LOOPBACK_V4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

export function isLoopbackHost(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname) || LOOPBACK_V4.test(url.hostname);
}

/**
 * A key set (JWKS) URL the bridge fetches for every proof: https, or http to loopback where the
 * deployment allows it (the sandbox's emulators). Refused at load, not at the first request
 *. Returns the problem, naming the option, or undefined.
 */
export function keySetUrlProblem(value: string, option: string, allowInsecureLoopback: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${option}: not a URL`;
  }
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && allowInsecureLoopback && isLoopbackHost(url)) return undefined;
  return `${option}: must be https (http is accepted for loopback in the sandbox only)`;
}
