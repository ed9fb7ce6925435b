/**
 * The failure table (docs/operations.md#failures) and the configuration table
 * (docs/operations.md#configuration) are read by operators and callers; these checks keep them in step
 * with the code, so that neither can drift again: every reason of src/errors.ts has its row with the
 * status and `error` that toWire answers, every Entra code the bridge explains is listed, and every
 * variable the bridge reads is in the configuration table.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ENV } from '../../src/config/config.ts';
import { toWire, type ReasonCode } from '../../src/errors.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const OPERATIONS = read('docs/operations.md');

/** The reason codes of the `ReasonCode` union, parsed from the source (a type has no runtime list). */
function reasonCodes(): ReasonCode[] {
  const source = read('src/errors.ts').replace(/\/\/.*$/gm, '');
  const union = /export type ReasonCode =([\s\S]*?);/.exec(source)?.[1] ?? '';
  return [...union.matchAll(/\|\s*'([a-z_]+)'/g)].map((m) => m[1] as ReasonCode);
}

/** The text of one `## heading` section, up to the next `## `. */
function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) return '';
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end < 0 ? undefined : end);
}

interface Table {
  header: string[];
  rows: string[][];
}

/** Markdown tables of a text: header cells and body rows (the separator row dropped). */
function tables(text: string): Table[] {
  const out: Table[] = [];
  let current: string[][] = [];
  const flush = (): void => {
    if (current.length >= 2) out.push({ header: current[0]!, rows: current.slice(2) });
    current = [];
  };
  for (const line of text.replace(/```[\s\S]*?```/g, '').split('\n')) {
    if (line.startsWith('|'))
      current.push(
        line
          .slice(1, line.lastIndexOf('|'))
          .split(/(?<!\\)\|/)
          .map((c) => c.trim()),
      );
    else flush();
  }
  flush();
  return out;
}

const codeSpans = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

/** The object literal keys (`'123': …`) of one `const NAME … = {` in a source text. */
function literalKeys(source: string, name: string): string[] {
  const start = source.indexOf(`const ${name}`);
  const body = source.slice(start, source.indexOf('\n};', start));
  return [...body.matchAll(/^ {2}'(\d+)':/gm)].map((m) => m[1]!);
}

describe('the failure table (docs/operations.md#failures)', () => {
  const failures = section(OPERATIONS, 'Failures');
  const all = tables(failures);
  const index = all.find((t) => t.header[0] === 'Audit `reason`' && t.header[1] === 'Status / `error`');
  const causes = all.filter((t) => t.header[0] === 'Status / `error`' && t.header[1] === 'Audit `reason`');
  const codes = reasonCodes();

  it('parses: the reason codes, the index and the cause tables are found', () => {
    expect(codes.length).toBeGreaterThan(50);
    expect(codes).toContain('internal_error');
    expect(index).toBeDefined();
    expect(causes.length).toBeGreaterThan(3);
  });

  it('the index has exactly one row per reason code, with the status, error and description toWire answers', () => {
    const rows = new Map<string, string[]>();
    for (const row of index!.rows) {
      const [reason] = codeSpans(row[0]!);
      expect(rows.has(reason!), `${reason} is listed twice`).toBe(false);
      rows.set(reason!, row);
    }
    for (const code of codes) {
      const row = rows.get(code);
      expect(row, `${code} has no row in the index of docs/operations.md#failures`).toBeDefined();
      const wire = toWire(code);
      expect(
        row![1]!.startsWith(`${wire.status} \`${wire.error}\``),
        `${code}: ${row![1]} is not ${wire.status} ${wire.error}`,
      ).toBe(true);
      expect(row![2], `${code}: the description must quote toWire`).toContain(wire.description);
    }
    expect([...rows.keys()].filter((r) => !codes.includes(r as ReasonCode))).toEqual([]);
  });

  it('every reason code has a cause and a fix, and every cause row says the status and error toWire answers', () => {
    const covered = new Set<string>();
    for (const table of causes) {
      for (const row of table.rows) {
        const reasons = codeSpans(row[1]!);
        expect(reasons.length, `a row without a reason: ${row.join(' | ')}`).toBeGreaterThan(0);
        for (const reason of reasons) {
          expect(codes, `${reason} is not a reason code`).toContain(reason);
          const wire = toWire(reason as ReasonCode);
          expect(
            row[0]!.startsWith(`${wire.status} \`${wire.error}\``),
            `${reason}: ${row[0]} is not ${wire.status} ${wire.error}`,
          ).toBe(true);
          covered.add(reason);
        }
        expect(row.at(-1), `a row without a fix: ${row.join(' | ')}`).not.toBe('');
      }
    }
    expect(codes.filter((c) => !covered.has(c))).toEqual([]);
  });

  it("every Entra code the bridge explains to the operator or the caller is in the table of Entra's codes", () => {
    const source = read('src/entra/errors.ts');
    const explained = [
      ...literalKeys(source, 'OPERATOR_HINTS'),
      ...literalKeys(source, 'USER_ASSERTION_CODES'),
      ...literalKeys(source, 'CONSENT_CODES'),
    ];
    expect(explained.length).toBeGreaterThan(20);
    const listed = new Set(failures.match(/\b\d{5,8}\b/g) ?? []);
    expect(explained.filter((code) => !listed.has(code))).toEqual([]);
  });
});

/** Uppercase names read from `process.env` or a Worker's `env` in the sources the bridge runs. */
function variablesReadInSource(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.ts$/.test(entry.name)) {
        for (const m of readFileSync(path, 'utf8').matchAll(
          /\benv(?:\.([A-Z][A-Z0-9_]+)|\[\s*['"]([A-Z][A-Z0-9_]+)['"]\s*\])/g,
        ))
          names.add((m[1] ?? m[2])!);
      }
    }
  };
  walk(join(ROOT, 'src'));
  walk(join(ROOT, 'sandbox'));
  // Durable Object bindings are wrangler.toml's, not configuration (docs/workers.md#durable-objects).
  for (const m of read('wrangler.toml').matchAll(/\[\[durable_objects\.bindings\]\]\s*name\s*=\s*"([A-Z_]+)"/g))
    names.delete(m[1]!);
  return names;
}

describe('the configuration table (docs/operations.md#configuration)', () => {
  const table = tables(section(OPERATIONS, 'Configuration')).find((t) => t.header[0] === 'Variable');
  const documented = new Set(table?.rows.flatMap((row) => codeSpans(row[0]!)) ?? []);

  it('lists every variable of ENV and every variable the sources read, each with a purpose and a default', () => {
    expect(table).toBeDefined();
    const read = new Set([...Object.values(ENV), ...variablesReadInSource()]);
    expect(read.size).toBeGreaterThan(20);
    expect([...read].filter((name) => !documented.has(name))).toEqual([]);
    for (const row of table!.rows) expect(row.filter((cell) => cell !== '').length, row.join(' | ')).toBe(3);
  });
});
