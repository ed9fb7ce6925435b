/**
 * The Workers kill switch (docs/operations.md#kill-switch): one Durable Object holds the deny list
 * set through the admin endpoint (src/admin/deny-endpoint.ts), so every isolate reads the same list.
 * An isolate keeps what it read for DENY_LIST_REFRESH_MS; the isolate that received an update uses
 * it at once. A read that fails throws StoreUnavailableError: requests are refused (503), never let
 * through without the list.
 */
import { DurableObject } from 'cloudflare:workers';
import type { DenyInput } from '../../config/schema.ts';
import { DENY_LIST_REFRESH_MS } from '../../constants.ts';
import { compileDenyList, type DenyList, type RuntimeDenyList } from '../../policy/deny.ts';
import { StoreUnavailableError } from '../ports.ts';
import { STATE_UNAVAILABLE_RETRY_AFTER_SEC } from './constants.ts';

/** The one object's name: the list is small and read rarely (once per isolate per refresh). */
const OBJECT_NAME = 'deny-list';
const STORAGE_KEY = 'deny';

export class KillSwitch extends DurableObject<unknown> {
  async read(): Promise<DenyInput> {
    return (await this.ctx.storage.get<DenyInput>(STORAGE_KEY)) ?? {};
  }

  /** Replaces the whole list: an update names everything that stays denied. */
  async write(list: DenyInput): Promise<void> {
    await this.ctx.storage.put(STORAGE_KEY, list);
  }
}

export class DurableDenyList implements RuntimeDenyList {
  readonly #ns: DurableObjectNamespace<KillSwitch>;
  readonly #now: () => number;
  #cached: { list: DenyList; input: DenyInput; readAt: number } | undefined;

  constructor(ns: DurableObjectNamespace<KillSwitch>, nowMs: () => number = Date.now) {
    this.#ns = ns;
    this.#now = nowMs;
  }

  async current(): Promise<DenyList> {
    return (await this.#fresh()).list;
  }

  /** The list as stored (the admin endpoint's GET). */
  async input(): Promise<DenyInput> {
    return (await this.#fresh()).input;
  }

  async replace(input: DenyInput): Promise<void> {
    try {
      await this.#ns.getByName(OBJECT_NAME).write(input);
    } catch (e) {
      throw unreachable(e);
    }
    this.#cached = { list: compileDenyList(input), input, readAt: this.#now() };
  }

  async #fresh(): Promise<{ list: DenyList; input: DenyInput }> {
    const cached = this.#cached;
    if (cached && this.#now() - cached.readAt < DENY_LIST_REFRESH_MS) return cached;
    let input: DenyInput;
    try {
      input = await this.#ns.getByName(OBJECT_NAME).read();
    } catch (e) {
      throw unreachable(e);
    }
    this.#cached = { list: compileDenyList(input), input, readAt: this.#now() };
    return this.#cached;
  }
}

function unreachable(e: unknown): StoreUnavailableError {
  const why = e instanceof Error ? `${e.name}: ${e.message.split('\n')[0]}` : String(e);
  return new StoreUnavailableError(
    'deny-list',
    'unreachable',
    `Durable Object did not answer (${why})`,
    STATE_UNAVAILABLE_RETRY_AFTER_SEC,
  );
}
