/**
 * Node: the policy file is read again on SIGHUP and when it changes (fs.watch on its directory, so
 * editors that rename and Kubernetes' symlink swaps are seen), validated exactly as at start-up
 * (src/config/policy-file.ts), and only then swapped in: a bad file keeps the policy in force and
 * says why. Rules, tenants and the deny list apply to the next request; a changed `platforms`
 * section needs a restart, and the log says so (docs/operations.md#kill-switch).
 */
import { watch, readFileSync, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { parsePolicyText } from '../config/policy-file.ts';
import type { PlatformsConfig } from '../config/schema.ts';
import { POLICY_RELOAD_DEBOUNCE_MS } from '../constants.ts';
import { sha256Hex } from '../util/hash.ts';
import type { PlatformModule } from '../verify/contract.ts';
import { EMPTY_DENY_LIST } from './deny.ts';
import type { CompiledPolicy } from './policy.ts';

export type ReloadTrigger = 'SIGHUP' | 'change';
export type ReloadOutcome = 'applied' | 'unchanged' | 'refused';

export interface PolicyReloadOptions {
  file: string;
  platforms: readonly PlatformModule[];
  runtime: { allowInsecureLoopback: boolean };
  /** The app's dependencies: `policy` is read on every request (src/token/exchange.ts). */
  target: { policy: CompiledPolicy };
  /** The `platforms` section the running verifiers were built from. */
  loadedPlatforms: PlatformsConfig;
  /** One JSON-serialisable event per reload attempt. Default: a JSON line on stderr. */
  log?: (event: Record<string, unknown>) => void;
  debounceMs?: number;
}

export interface PolicyReloader {
  reload(trigger: ReloadTrigger): ReloadOutcome;
  close(): void;
}

const logLine = (event: Record<string, unknown>) => console.error(JSON.stringify(event));

export function reloadPolicyFile(opts: PolicyReloadOptions): PolicyReloader {
  const log = opts.log ?? logLine;
  const name = basename(opts.file);
  let appliedHash: string | undefined = readHash(opts.file);
  let timer: ReturnType<typeof setTimeout> | undefined;

  const reload = (trigger: ReloadTrigger): ReloadOutcome => {
    const base = { type: 'policy_reload', trigger, file: opts.file };
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (e) {
      log({
        ...base,
        outcome: 'refused',
        problems: [`cannot read ${opts.file} (${(e as { code?: string }).code ?? (e as Error).message})`],
        kept: 'the policy in force',
      });
      return 'refused';
    }
    const hash = sha256Hex(text);
    if (hash === appliedHash) {
      if (trigger === 'SIGHUP') log({ ...base, outcome: 'unchanged' });
      return 'unchanged';
    }
    const parsed = parsePolicyText(text, opts.file, opts.platforms, opts.runtime);
    if (!parsed.policy || parsed.problems.length > 0) {
      log({ ...base, outcome: 'refused', problems: parsed.problems, kept: 'the policy in force' });
      return 'refused';
    }
    opts.target.policy = parsed.policy;
    appliedHash = hash;
    const deny = parsed.policy.deny ?? EMPTY_DENY_LIST;
    const platformsChanged = JSON.stringify(parsed.platforms) !== JSON.stringify(opts.loadedPlatforms);
    log({
      ...base,
      outcome: 'applied',
      rules: parsed.policy.rules.length,
      deny: {
        principals: [...deny.principals.values()].reduce((n, s) => n + s.size, 0),
        agents: deny.agents.size,
        n8nInstances: deny.n8nInstances.size,
      },
      ...(platformsChanged
        ? {
            warning:
              'the platforms section changed: it takes effect at restart (to block an n8n instance now, list it under deny.n8nInstances)',
          }
        : {}),
    });
    return 'applied';
  };

  const onSighup = () => void reload('SIGHUP');
  process.on('SIGHUP', onSighup);
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(opts.file), { persistent: false }, (_event, changed) => {
      // Kubernetes swaps a `..data` symlink rather than the file: any change in the directory may be ours.
      if (changed !== null && changed !== name && !changed.startsWith('..')) return;
      clearTimeout(timer);
      timer = setTimeout(() => reload('change'), opts.debounceMs ?? POLICY_RELOAD_DEBOUNCE_MS);
    });
  } catch (e) {
    log({
      type: 'policy_reload',
      file: opts.file,
      outcome: 'watch_unavailable',
      problems: [(e as Error).message],
      note: 'reload with SIGHUP',
    });
  }

  return {
    reload,
    close: () => {
      process.off('SIGHUP', onSighup);
      clearTimeout(timer);
      watcher?.close();
    },
  };
}

function readHash(file: string): string | undefined {
  try {
    return sha256Hex(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}
