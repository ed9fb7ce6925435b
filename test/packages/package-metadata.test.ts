/**
 * What every package the project publishes says about itself (issue 10 item 3). The root package.json
 * is the one place that names the repository, its issue tracker, the author and the license; every
 * publishable package.json under adapters/ (found by walking the folder, so a new package is checked
 * without being listed here) repeats them, with `repository.directory` naming its own folder, and sets
 * `engines` and `files`. npm refuses a provenance publish whose `repository.url` does not match the
 * repository that built it (https://docs.npmjs.com/generating-provenance-statements), and n8n checks
 * that a community node's repository and author match its npm page
 * (https://docs.n8n.io/integrations/creating-nodes/build/reference/verification-guidelines).
 *
 * The n8n community node package keeps its build and lint tooling to itself (its own lockfile, not a
 * workspace of the root); what its tests need at run time comes from the test/support/n8n-runtime
 * workspace, pinned to the n8n-workflow the node is built against.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const N8N_NODE = 'adapters/n8n/node';
const N8N_RUNTIME = 'test/support/n8n-runtime';
const PUBLISH_WORKFLOW = '.github/workflows/publish-n8n-node.yml';
/** Deep enough for adapters/<platform>/<package>; package folders are never nested deeper. */
const MAX_DEPTH = 3;

interface Person {
  name?: string;
  email?: string;
  url?: string;
}
interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  license?: string;
  author?: Person | string;
  repository?: { type?: string; url?: string; directory?: string } | string;
  homepage?: string;
  bugs?: { url?: string } | string;
  engines?: { node?: string };
  files?: string[];
  workspaces?: string[];
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  dependencies?: Record<string, string>;
}
interface Lockfile {
  packages: Record<
    string,
    { version?: string; devDependencies?: Record<string, string>; peerDependencies?: Record<string, string> }
  >;
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(join(REPO, path), 'utf8')) as T;
const root = readJson<Manifest>('package.json');

/** Every package.json folder under adapters/, skipping installed and built trees. */
function packageFolders(dir: string, depth: number): string[] {
  const found = existsSync(join(REPO, dir, 'package.json')) ? [dir] : [];
  if (depth === MAX_DEPTH) return found;
  for (const entry of readdirSync(join(REPO, dir), { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.'))
      continue;
    found.push(...packageFolders(`${dir}/${entry.name}`, depth + 1));
  }
  return found;
}
const publishable = packageFolders('adapters', 1).filter((dir) => !readJson<Manifest>(`${dir}/package.json`).private);

/** The repository's web address, from the root's git URL: git+https://github.com/o/r.git -> https://github.com/o/r. */
function webUrl(gitUrl: string): string {
  return gitUrl.replace(/^git\+/, '').replace(/\.git$/, '');
}
const rootRepository = (root.repository ?? {}) as { type?: string; url?: string };
const REPOSITORY_WEB = webUrl(rootRepository.url ?? '');

describe('package metadata: one repository, author and license for every published package', () => {
  it('issue 10 item 3: the root names the canonical repository, issue tracker and author, with no placeholder', () => {
    expect(rootRepository.type).toBe('git');
    expect(rootRepository.url).toMatch(/^git\+https:\/\/github\.com\/[^/]+\/[^/]+\.git$/);
    expect(root.bugs).toEqual({ url: `${REPOSITORY_WEB}/issues` });
    expect(root.homepage?.startsWith(REPOSITORY_WEB)).toBe(true);
    const author = root.author as Person;
    expect(author.name?.trim()).toBeTruthy();
    expect(author.email).toMatch(/^[^@\s]+@[^@\s]+$/);
    // Reserved example domains (RFC 2606) are what a placeholder looks like.
    for (const value of [author.email, author.url, rootRepository.url, root.homepage])
      expect(value ?? '').not.toMatch(/example\.(com|org|net)|\.example\b/);
  });

  it('issue 10 item 3: the publishable packages are found, the n8n community node among them', () => {
    expect(publishable).toContain(N8N_NODE);
    expect(publishable).toEqual(
      expect.arrayContaining(['adapters/client', 'adapters/aws/client', 'adapters/gcp/client']),
    );
  });

  describe.each(publishable)('%s', (dir) => {
    const pkg = readJson<Manifest>(`${dir}/package.json`);

    it('issue 10 item 3: repository is the root repository, with directory naming this folder', () => {
      expect(pkg.repository).toEqual({ type: 'git', url: rootRepository.url, directory: dir });
    });

    it('issue 10 item 3: homepage and bugs point into the root repository', () => {
      expect(pkg.homepage?.startsWith(`${REPOSITORY_WEB}/`) || pkg.homepage?.startsWith(`${REPOSITORY_WEB}#`)).toBe(
        true,
      );
      expect(pkg.bugs).toEqual(root.bugs);
    });

    it("issue 10 item 3: author and license are the root's", () => {
      expect(pkg.author).toEqual(root.author);
      expect(pkg.license).toBe(root.license);
    });

    it('issue 10 item 3: engines.node and a non-empty files list are set', () => {
      expect(pkg.engines?.node).toMatch(/^>=\d+/);
      expect(Array.isArray(pkg.files) && pkg.files.length > 0).toBe(true);
    });
  });
});

describe('the n8n community node package: its own tooling, outside the root install', () => {
  const node = readJson<Manifest>(`${N8N_NODE}/package.json`);

  it('issue 10 item 3: the root install carries none of the n8n node build and lint tooling', () => {
    expect(root.workspaces).not.toContain(N8N_NODE);
    const rootLock = readJson<Lockfile>('package-lock.json');
    const tooling = Object.keys(rootLock.packages).filter((key) =>
      /(^|\/)node_modules\/(@n8n\/node-cli|eslint|eslint-plugin-n8n-nodes-base)$/.test(key),
    );
    expect(tooling).toEqual([]);
    expect(Object.keys(rootLock.packages).some((key) => key.startsWith(`${N8N_NODE}/`))).toBe(false);
  });

  it("issue 10 item 3: the node package's own lockfile matches its package.json", () => {
    const lock = readJson<Lockfile>(`${N8N_NODE}/package-lock.json`);
    const locked = lock.packages[''];
    expect(locked?.devDependencies).toEqual(node.devDependencies);
    expect(locked?.peerDependencies).toEqual(node.peerDependencies);
    expect(lock.packages['node_modules/@n8n/node-cli']?.version).toBe(node.devDependencies?.['@n8n/node-cli']);
  });

  it('issue 10 item 3: the node tests run against the n8n-workflow the node is built and linted against', () => {
    const built = readJson<Lockfile>(`${N8N_NODE}/package-lock.json`).packages['node_modules/n8n-workflow']?.version;
    const runtime = readJson<Manifest>(`${N8N_RUNTIME}/package.json`);
    const tested =
      readJson<Lockfile>('package-lock.json').packages[`${N8N_RUNTIME}/node_modules/n8n-workflow`]?.version;
    expect(built).toBeTruthy();
    expect(runtime.dependencies?.['n8n-workflow']).toBe(built);
    expect(tested).toBe(built);
    expect(root.workspaces).toContain(N8N_RUNTIME);
  });

  it('issue 10 item 3: the publish workflow publishes the node from a n8n-node-v* tag with npm provenance', () => {
    const workflow = parse(readFileSync(join(REPO, PUBLISH_WORKFLOW), 'utf8')) as {
      on: { push: { tags: string[] } };
      permissions?: Record<string, string>;
      jobs: Record<
        string,
        {
          needs?: string | string[];
          permissions?: Record<string, string>;
          steps: { run?: string; 'working-directory'?: string; env?: Record<string, string> }[];
        }
      >;
    };
    expect(workflow.on.push.tags).toEqual(['n8n-node-v*']);
    // Only the publishing job may mint an OIDC token; everything else reads.
    expect(workflow.permissions).toEqual({ contents: 'read' });
    const publishing = Object.entries(workflow.jobs).filter(([, job]) =>
      job.steps.some((step) => /\bnpm publish\b/.test(step.run ?? '')),
    );
    expect(publishing).toHaveLength(1);
    const [, job] = publishing[0]!;
    expect(job.permissions).toEqual({ contents: 'read', 'id-token': 'write' });
    const publish = job.steps.find((step) => /\bnpm publish\b/.test(step.run ?? ''))!;
    expect(publish.run).toMatch(/npm publish --provenance --access public/);
    expect(publish['working-directory']).toBe(N8N_NODE);
    const runs = job.steps.map((step) => step.run ?? '').join('\n');
    expect(runs).toMatch(/npm run n8n:lint/);
    expect(runs).toMatch(/npm run n8n:build/);
    // The full CI gates the publish.
    expect([job.needs].flat()).toContain('ci');
    expect(workflow.jobs.ci?.steps.some((step) => /bash \.ci\/run/.test(step.run ?? ''))).toBe(true);
    // No long-lived npm token: npm trusted publishing (OIDC).
    expect(JSON.stringify(workflow)).not.toMatch(/NPM_TOKEN|NODE_AUTH_TOKEN/);
  });
});
