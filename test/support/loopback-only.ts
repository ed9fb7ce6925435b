/**
 * Vitest setup file: the test suite may reach loopback only. Any TCP connection or DNS lookup for
 * another host fails loudly, so a test that would touch the network (Google's certs, real STS,
 * login.microsoftonline.com, gcloud's metadata probe) fails instead of silently passing or hanging.
 */
import dns from 'node:dns';
import net from 'node:net';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost|::ffff:127\.\d+\.\d+\.\d+)$/i;

function refuse(host: string): never {
  throw new Error(`test tried to reach ${host}: tests may only use loopback (test/support/loopback-only.ts)`);
}

const originalConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function patchedConnect(this: net.Socket, ...args: unknown[]) {
  const first = args[0];
  const opts = (Array.isArray(first) ? first[0] : first) as { host?: string; path?: string } | number | string;
  let host: string | undefined;
  if (typeof opts === 'object' && opts !== null) host = opts.path ? undefined : (opts.host ?? 'localhost');
  else if (typeof opts === 'number') host = typeof args[1] === 'string' ? args[1] : 'localhost';
  if (host !== undefined && !LOOPBACK.test(host.replace(/^\[|\]$/g, ''))) refuse(host);
  return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args);
} as typeof net.Socket.prototype.connect;

const originalLookup = dns.lookup;
(dns as { lookup: unknown }).lookup = function patchedLookup(hostname: string, ...rest: unknown[]) {
  if (!LOOPBACK.test(hostname)) refuse(hostname);
  return (originalLookup as (...a: unknown[]) => unknown).call(dns, hostname, ...rest);
};
