/** Compiled matchers: exact, glob or fully anchored regex (docs/architecture.md#the-trust-policy). */
import type { Matcher } from '../config/schema.ts';

export type CompiledMatcher = { kind: 'exact'; value: string } | { kind: 'pattern'; source: string; re: RegExp };

export function compileMatcher(m: Matcher): CompiledMatcher {
  if (typeof m === 'string') return { kind: 'exact', value: m };
  if ('glob' in m) return { kind: 'pattern', source: `glob:${m.glob}`, re: new RegExp(`^${globToRegexBody(m.glob)}$`) };
  // Compile the pattern on its own first: `ID)|(.*` is invalid alone but valid once wrapped, where it
  // would match everything. Then anchor the whole alternation: "a|b" must not become "^a|b$".
  new RegExp(m.regex);
  return { kind: 'pattern', source: `regex:${m.regex}`, re: new RegExp(`^(?:${m.regex})$`) };
}

export function matches(m: CompiledMatcher, value: string | undefined): boolean {
  if (value === undefined) return false;
  return m.kind === 'exact' ? m.value === value : m.re.test(value);
}

/** `**` → any characters; `*` → any characters except "/"; `?` → one character except "/". */
function globToRegexBody(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        out += '.*';
        i++;
      } else out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return out;
}
