/**
 * `npm run n8n:build` / `npm run n8n:lint` / `npm run n8n:install`: the n8n community node package
 * (adapters/n8n/node) with its own tooling. The package is not a workspace of the root: its build and
 * lint tooling (@n8n/node-cli, ESLint, TypeScript 5.8) is about 700 MB that `npm ci` at the root would
 * otherwise install for every test run. It has its own lockfile, installed here on demand with `npm ci`
 * when its node_modules is missing or older than that lockfile (npm's hidden lockfile,
 * node_modules/.package-lock.json, is written at the end of every install).
 *
 * `lint` fails on any problem, warnings included: `n8n-node lint` exits 0 on warnings, and n8n checks
 * verified community nodes with the same rules
 * (https://docs.n8n.io/integrations/creating-nodes/build/reference/verification-guidelines).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '..');
const NODE_PACKAGE_DIR = resolve(REPO, 'adapters/n8n/node');
const LOCKFILE = resolve(NODE_PACKAGE_DIR, 'package-lock.json');
const HIDDEN_LOCKFILE = resolve(NODE_PACKAGE_DIR, 'node_modules/.package-lock.json');

const COMMANDS = ['install', 'build', 'lint'] as const;
type Command = (typeof COMMANDS)[number];

/** ESLint's closing summary, e.g. "✖ 1 problem (0 errors, 1 warning)", printed only when it found something. */
const ESLINT_PROBLEMS = /✖ \d+ problems? \(/;
/** ANSI colour codes: n8n-node runs ESLint with FORCE_COLOR. */
const ANSI = /\u001b\[[0-9;]*m/g;

function npm(args: string[], capture = false): { status: number; output: string } {
  const result = spawnSync('npm', args, {
    cwd: NODE_PACKAGE_DIR,
    encoding: 'utf8',
    stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit',
  });
  if (result.error) throw result.error;
  const output = capture ? `${result.stdout}${result.stderr}` : '';
  if (capture) process.stdout.write(output);
  return { status: result.status ?? 1, output };
}

function toolingIsCurrent(): boolean {
  return existsSync(HIDDEN_LOCKFILE) && statSync(HIDDEN_LOCKFILE).mtimeMs >= statSync(LOCKFILE).mtimeMs;
}

function ensureTooling(): void {
  if (toolingIsCurrent()) return;
  console.log('n8n node: installing its build and lint tooling (npm ci in adapters/n8n/node)');
  const { status } = npm(['ci', '--no-audit', '--no-fund']);
  if (status !== 0) process.exit(status);
}

function main(command: Command): void {
  ensureTooling();
  if (command === 'install') return;
  if (command === 'build') {
    process.exit(npm(['run', 'build']).status);
  }
  const { status, output } = npm(['run', 'lint'], true);
  if (status !== 0) process.exit(status);
  if (ESLINT_PROBLEMS.test(output.replace(ANSI, ''))) {
    console.error('n8n node: lint reported problems; warnings fail too');
    process.exit(1);
  }
}

const command = process.argv[2];
if (!COMMANDS.includes(command as Command)) {
  console.error(`usage: node scripts/n8n-node.ts ${COMMANDS.join('|')}`);
  process.exit(2);
}
main(command as Command);
