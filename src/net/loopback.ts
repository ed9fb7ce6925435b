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
