import type { EntraEmulatorOptions } from './index.ts';
import { isGuid } from './guid.ts';

/**
 * Directory rules Graph enforces when the objects are created (docs/entra.md#objects-and-identifiers, docs/entra.md#federated-credential-matching), checked once so that a
 * test cannot build a directory real Entra would refuse. Messages name the option path.
 */
export function validateOptions(opts: EntraEmulatorOptions): void {
  const seenTenants = new Set<string>();
  opts.tenants.forEach((t, ti) => {
    const at = `tenants[${ti}]`;
    if (!isGuid(t.tenantId)) throw new TypeError(`${at}.tenantId must be a GUID`);
    if (seenTenants.has(t.tenantId.toLowerCase())) throw new TypeError(`${at}.tenantId is a duplicate`);
    seenTenants.add(t.tenantId.toLowerCase());
    t.blueprints.forEach((b, bi) => {
      const bat = `${at}.blueprints[${bi}]`;
      if (!isGuid(b.appId)) throw new TypeError(`${bat}.appId must be a GUID (it is encoded into T1's sub)`);
      if (b.fics.length > 20)
        throw new TypeError(
          `${bat}.fics: at most 20 federated identity credentials per application (docs/entra.md#federated-credential-matching)`,
        );
      const pairs = new Set<string>();
      b.fics.forEach((f, fi) => {
        const fat = `${bat}.fics[${fi}]`;
        if (f.audiences.length !== 1) throw new TypeError(`${fat}.audiences must hold exactly one audience`);
        if (f.issuer.length > 600 || f.subject.length > 600)
          throw new TypeError(`${fat}: issuer and subject are at most 600 characters`);
        if (f.issuer !== f.issuer.trim())
          throw new TypeError(`${fat}.issuer may not have leading or trailing whitespace`);
        const pair = `${f.issuer}\n${f.subject}`;
        if (pairs.has(pair)) throw new TypeError(`${fat}: the (issuer, subject) pair must be unique per application`);
        pairs.add(pair);
      });
    });
    t.agents.forEach((a, ai) => {
      if (!t.blueprints.some((b) => b.appId.toLowerCase() === a.parentBlueprintId.toLowerCase())) {
        throw new TypeError(`${at}.agents[${ai}].parentBlueprintId names no blueprint of this tenant`);
      }
    });
  });
}
