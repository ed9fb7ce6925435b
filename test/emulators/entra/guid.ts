/** GUID helpers and the T1 `sub` format (docs/entra.md#token-claims). */

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isGuid(s: string): boolean {
  return GUID_RE.test(s);
}

/**
 * .NET `Guid.ToByteArray()` order: the first three groups little-endian, the last eight bytes as
 * written. Verified against a real T1 in docs/entra.md#token-claims (tenant 5369a35c-… → `XKNpU6VGd0aP-S5lWHZU5w`).
 */
export function guidToDotNetBytes(guid: string): Uint8Array {
  if (!isGuid(guid)) throw new TypeError(`not a GUID: ${guid}`);
  const hex = guid.replace(/-/g, '');
  const b = Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
  return Uint8Array.from([b[3]!, b[2]!, b[1]!, b[0]!, b[5]!, b[4]!, b[7]!, b[6]!, ...b.slice(8)]);
}

export function guidToB64url(guid: string): string {
  return Buffer.from(guidToDotNetBytes(guid)).toString('base64url');
}

const EID1_PREFIX = '/eid1/c/pub/t/';

/** T1 `sub`: `/eid1/c/pub/t/<b64url(tenant)>/a/<b64url(blueprint appId)>/<fmi_path>`. */
export function eid1Subject(tenantId: string, blueprintAppId: string, fmiPath: string): string {
  return `${EID1_PREFIX}${guidToB64url(tenantId)}/a/${guidToB64url(blueprintAppId)}/${fmiPath}`;
}

/** Inverse of eid1Subject on its encoded parts; null when `sub` does not have that shape. */
export function parseEid1Subject(sub: string): { tenantB64: string; appB64: string; fmiPath: string } | null {
  if (!sub.startsWith(EID1_PREFIX)) return null;
  const parts = sub.slice(EID1_PREFIX.length).split('/');
  const [tenantB64, a, appB64, ...rest] = parts;
  if (!tenantB64 || a !== 'a' || !appB64 || rest.length === 0) return null;
  // fmi_path may itself contain '/', so everything after the app segment is the path.
  return { tenantB64, appB64, fmiPath: rest.join('/') };
}
