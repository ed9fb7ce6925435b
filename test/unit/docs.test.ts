/**
 * Code comments cite what a reader of the repository can open: an RFC section, a vendor doc URL, or a
 * file and section under docs/ (CONTRIBUTING.md#tests). These checks keep it that way: no source file
 * names the design notes that never shipped with the repository, every `docs/…md#section` a source file
 * cites exists with that heading, and every relative link of the Markdown documentation resolves.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SOURCE_DIRS = ['src', 'adapters', 'sandbox', 'test'];
const SKIP_DIRS = new Set(['node_modules', 'dist', '.scratch']);
const SOURCE_FILE = /\.(?:ts|mts|cts|js|mjs|cjs)$/;

/** Notes the project was designed from; they are not in the repository, so nothing may cite them. */
const OUT_OF_REPO_DOC = /(?<![\w./-])(?:design|platform-proofs|style|entra-agent-id|packages)\.md\b|shared\/docs\//;
/** A citation of a document that ships with the repository, with an optional `#section`. */
const IN_REPO_CITATION = /(?<![\w./-])((?:docs\/[\w./-]+|CONTRIBUTING)\.md)(?:#([\w-]+))?/g;

function walk(dir: string, keep: (path: string) => boolean): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP_DIRS.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(path, keep));
    else if (keep(path)) out.push(path);
  }
  return out;
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function headingSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

const anchorCache = new Map<string, Set<string>>();
function anchorsOf(file: string): Set<string> {
  let anchors = anchorCache.get(file);
  if (!anchors) {
    const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
    anchors = new Set([...text.matchAll(/^#{1,6} +(.+)$/gm)].map((m) => headingSlug(m[1]!)));
    anchorCache.set(file, anchors);
  }
  return anchors;
}

/** What is wrong with the citations in one source text (empty when nothing is). */
function citationProblems(text: string, root: string): string[] {
  const problems: string[] = [];
  const outside = OUT_OF_REPO_DOC.exec(text);
  if (outside) problems.push(`cites ${outside[0]}, which is not in the repository`);
  for (const m of text.matchAll(IN_REPO_CITATION)) {
    const target = join(root, m[1]!);
    if (!existsSync(target)) problems.push(`cites ${m[1]}, which does not exist`);
    else if (m[2] !== undefined && !anchorsOf(target).has(m[2]))
      problems.push(`cites ${m[0]}, which has no such heading`);
  }
  return problems;
}

/** Relative links of one Markdown file that do not resolve to a file (and heading). */
function brokenLinks(file: string): string[] {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  const broken: string[] = [];
  for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    const link = m[1]!;
    if (/^[a-z]+:/i.test(link)) continue;
    const [path, anchor] = link.split('#', 2) as [string, string | undefined];
    const target = path === '' ? file : resolve(dirname(file), path);
    if (!existsSync(target)) broken.push(link);
    else if (anchor !== undefined && target.endsWith('.md') && !anchorsOf(target).has(anchor)) broken.push(link);
  }
  return broken;
}

const sources = SOURCE_DIRS.flatMap((d) => walk(join(ROOT, d), (p) => SOURCE_FILE.test(p)));

describe('documentation the code cites', () => {
  it('issue 13 item 4: the checker refuses an out-of-repository note, a missing docs file and a missing section', () => {
    const note = ['design', 'md'].join('.');
    expect(citationProblems(`// see ${note} §2`, ROOT)).toHaveLength(1);
    const missingFile = ['docs', 'nowhere.md'].join('/');
    expect(citationProblems(`/** ${missingFile}#x */`, ROOT)).toEqual([`cites ${missingFile}, which does not exist`]);
    const missingSection = 'docs/architecture.md' + '#no-such-section';
    expect(citationProblems(`// ${missingSection}`, ROOT)).toHaveLength(1);
    expect(citationProblems('// docs/architecture.md#threat-model, RFC 8693 §2.2.2', ROOT)).toEqual([]);
    // Another repository's files, cited by URL, are not ours, whatever their names.
    expect(
      citationProblems(
        `// https://github.com/o/r/blob/main/docs/elsewhere.md, ${['r/fic-resolution-design', 'md'].join('.')}`,
        ROOT,
      ),
    ).toEqual([]);
  });

  it('issue 13 item 4: no source file cites a document outside the repository, and every docs/ citation exists', () => {
    expect(sources.length).toBeGreaterThan(50);
    const problems = sources.flatMap((file) =>
      citationProblems(readFileSync(file, 'utf8'), ROOT).map((p) => `${relative(ROOT, file)}: ${p}`),
    );
    expect(problems).toEqual([]);
    const citing = sources.filter((file) => [...readFileSync(file, 'utf8').matchAll(IN_REPO_CITATION)].length > 0);
    expect(citing.length).toBeGreaterThan(20);
  });

  it('issue 13 item 4: every relative link of README.md, CONTRIBUTING.md and docs/ resolves to a file and heading', () => {
    const markdown = [
      join(ROOT, 'README.md'),
      join(ROOT, 'CONTRIBUTING.md'),
      ...walk(join(ROOT, 'docs'), (p) => p.endsWith('.md')),
    ];
    expect(markdown.length).toBeGreaterThan(5);
    const broken = markdown.flatMap((file) => brokenLinks(file).map((link) => `${relative(ROOT, file)}: ${link}`));
    expect(broken).toEqual([]);
  });
});
