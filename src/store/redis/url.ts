/**
 * BRIDGE_REDIS_URL → connection options, with no dependency so that configuration loading can
 * check it on any runtime: redis:// or rediss:// (TLS), optional ACL user and password, host,
 * port, optional database number (https://www.iana.org/assignments/uri-schemes/prov/redis).
 */
export interface RedisEndpoint {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  /** rediss://: TLS with the server certificate checked against the system CAs and the host name. */
  tls?: { servername?: string };
}

/** Throws with a message naming what is wrong, never echoing the password. */
export function parseRedisUrl(value: string): RedisEndpoint {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('not a URL (expected redis://[user:password@]host[:port][/db] or rediss://…)');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    throw new Error(`scheme must be redis:// or rediss:// (TLS), not ${url.protocol}//`);
  if (!url.hostname) throw new Error('has no host');
  if (url.search || url.hash) throw new Error('must not have a query or fragment (TLS is chosen by rediss://)');
  const db = url.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d{1,2}$/.test(db)) throw new Error('path must be a database number, e.g. /0');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return {
    host,
    port: url.port ? Number(url.port) : 6379,
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(db !== '' ? { db: Number(db) } : {}),
    // SNI carries host names only (RFC 6066 §3); for an IP address the certificate is checked against the IP.
    ...(url.protocol === 'rediss:' ? { tls: isIpLiteral(host) ? {} : { servername: host } } : {}),
  };
}

function isIpLiteral(host: string): boolean {
  return host.includes(':') || /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
}
