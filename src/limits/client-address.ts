/**
 * Which client a request comes from, for the per-address limit (./admission.ts). The runtime
 * says who connected: on Node the socket's peer address, on Workers the `CF-Connecting-IP` header
 * that Cloudflare sets and a client cannot (https://developers.cloudflare.com/fundamentals/reference/http-headers/).
 *
 * Behind proxies the peer is the nearest proxy, so every client would share one budget. An operator
 * who runs N proxies in front of a Node bridge says so (BRIDGE_TRUSTED_PROXY_HOPS=N); then the client
 * is the address the outermost trusted proxy saw, the N-th `X-Forwarded-For` entry from the right
 * (each proxy appends the address it was connected from, RFC 7239 §5.2 describes the same chain
 * for `Forwarded`). Entries further left were written by the client and are never believed.
 */

/** Used when the runtime cannot say (in-process calls): every such request shares one budget. */
export const UNKNOWN_CLIENT = 'unknown';

const IP_TEXT = /^[0-9A-Fa-f.:]{2,45}$/;

/** The client address: the socket peer, or the N-th X-Forwarded-For entry from the right with N trusted hops. */
export function forwardedClientAddress(
  peer: string | undefined,
  forwardedFor: string | null | undefined,
  trustedHops: number,
): string | undefined {
  if (trustedHops <= 0 || !forwardedFor) return peer;
  const chain = forwardedFor.split(',').map((s) => s.trim());
  // Fewer entries than trusted proxies: the request did not come through all of them.
  if (chain.length < trustedHops) return peer;
  const candidate = chain[chain.length - trustedHops]!;
  return IP_TEXT.test(candidate) ? candidate : peer;
}

/**
 * The rate-limit key of an address: IPv4 as is (also when IPv4-mapped), IPv6 by its /64 prefix,
 * because one subscriber usually holds a whole /64 (RFC 6177 §3) and could otherwise rotate
 * through 2^64 keys.
 */
export function clientKey(address: string | undefined): string {
  if (!address) return UNKNOWN_CLIENT;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const groups = expandIpv6(address.split('%')[0]!);
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : address.slice(0, 45);
}

/** The eight 16-bit groups of an IPv6 literal (lower-case, no leading zeros), or undefined. */
function expandIpv6(text: string): string[] | undefined {
  const halves = text.toLowerCase().split('::');
  if (halves.length > 2) return undefined;
  const part = (s: string) => (s === '' ? [] : s.split(':'));
  const head = part(halves[0]!);
  const tail = halves.length === 2 ? part(halves[1]!) : [];
  // An embedded IPv4 tail (::ffff:1.2.3.4 handled above; 64:ff9b::1.2.3.4 here) is two groups.
  const last = tail.length > 0 ? tail : head;
  if (last.length > 0 && last[last.length - 1]!.includes('.')) last.splice(last.length - 1, 1, '0', '0');
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return groups.map((g) => g.replace(/^0+(?=.)/, ''));
}
