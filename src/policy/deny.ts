/**
 * The kill switch (docs/operations.md#kill-switch): principals, agent identities and n8n instances an
 * operator refuses at once, whatever the rules say. Matching is exact (a deny list is read in an
 * incident; a pattern would make it harder to be sure what it blocks). Two lists can apply at once:
 * the policy file's `deny` section and, on Workers, the list set through the admin endpoint.
 */
import type { DenyInput } from '../config/schema.ts';
import type { VerifiedWorkload } from '../verify/contract.ts';

export interface DenyList {
  /** Per platform, the refused principals. */
  readonly principals: ReadonlyMap<string, ReadonlySet<string>>;
  /** Agent identity client ids, lower case. */
  readonly agents: ReadonlySet<string>;
  readonly n8nInstances: ReadonlySet<string>;
}

/** Which list refused a request: the audit log says so (reason denied_by_operator); the caller is not told. */
export type DenyListName = 'principals' | 'agents' | 'n8nInstances';

export const EMPTY_DENY_LIST: DenyList = { principals: new Map(), agents: new Set(), n8nInstances: new Set() };

export function compileDenyList(input: DenyInput | undefined): DenyList {
  if (!input) return EMPTY_DENY_LIST;
  const principals = new Map<string, ReadonlySet<string>>();
  for (const [platform, values] of Object.entries(input.principals ?? {}))
    if (values && values.length > 0) principals.set(platform, new Set(values));
  return {
    principals,
    agents: new Set((input.agents ?? []).map((a) => a.toLowerCase())),
    n8nInstances: new Set(input.n8nInstances ?? []),
  };
}

/** The list that refuses this workload (its principal, or the n8n instance that vouched for it), if any. */
export function deniedWorkload(lists: readonly DenyList[], w: VerifiedWorkload): DenyListName | undefined {
  for (const list of lists) {
    if (list.principals.get(w.platform)?.has(w.principal)) return 'principals';
    const instance =
      w.platform === 'n8n' && Object.hasOwn(w.attributes, 'instance_id') ? w.attributes.instance_id : undefined;
    if (instance !== undefined && list.n8nInstances.has(instance)) return 'n8nInstances';
  }
  return undefined;
}

export function deniedAgent(lists: readonly DenyList[], agentId: string): boolean {
  const id = agentId.toLowerCase();
  return lists.some((list) => list.agents.has(id));
}

/** The list as JSON (the Workers admin endpoint answers with it). */
export function denyListJson(list: DenyList): Required<{ [K in keyof DenyInput]-?: NonNullable<DenyInput[K]> }> {
  return {
    principals: Object.fromEntries([...list.principals].map(([p, s]) => [p, [...s]])),
    agents: [...list.agents],
    n8nInstances: [...list.n8nInstances],
  };
}

/**
 * A deny list kept outside the policy file and changed at run time (Workers: a Durable Object set
 * through the admin endpoint). `current()` throws StoreUnavailableError (src/store/ports.ts) when
 * it cannot answer: the request is then refused, never let through unchecked.
 */
export interface RuntimeDenyList {
  current(): Promise<DenyList>;
}
