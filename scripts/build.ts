/**
 * `npm run build`: the release build of the Node entry, dist/agent-id-bridge.mjs, one self-contained
 * ES module (every dependency bundled) that runs with a plain `node dist/agent-id-bridge.mjs` on
 * Node.js 22.0 or later, with no node_modules and no TypeScript (docs/operations.md, build and run).
 * The version comes from package.json; the commit from BRIDGE_BUILD_COMMIT, else `git rev-parse
 * HEAD`, else "unknown". `--outfile <path>` builds elsewhere (tests).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { build } from 'esbuild';

const REPO = resolve(import.meta.dirname, '..');
const DEFAULT_OUTFILE = resolve(REPO, 'dist/agent-id-bridge.mjs');

function commitOf(): string {
  const given = process.env.BRIDGE_BUILD_COMMIT?.trim();
  if (given) return given;
  try {
    return (
      execFileSync('git', ['rev-parse', 'HEAD'], {
        cwd: REPO,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim() || 'unknown'
    );
  } catch {
    return 'unknown';
  }
}

export async function buildRelease(
  opts: { outfile?: string; commit?: string } = {},
): Promise<{ outfile: string; version: string; commit: string; bytes: number }> {
  const outfile = opts.outfile ?? DEFAULT_OUTFILE;
  const { version } = JSON.parse(readFileSync(resolve(REPO, 'package.json'), 'utf8')) as { version: string };
  const commit = opts.commit ?? commitOf();
  const result = await build({
    entryPoints: [resolve(REPO, 'src/node.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    // Syntax Node.js 22.0 parses, so that older versions get the version check's message rather than a SyntaxError.
    target: 'node22.0',
    minifySyntax: true,
    sourcemap: 'linked',
    legalComments: 'linked',
    metafile: true,
    logLevel: 'warning',
    // Bundled CommonJS dependencies call require() for Node built-ins; an ES module has none of its own.
    banner: {
      js: "import { createRequire as __bridgeCreateRequire } from 'node:module';\nconst require = __bridgeCreateRequire(import.meta.url);",
    },
    define: {
      __BRIDGE_VERSION__: JSON.stringify(version),
      __BRIDGE_COMMIT__: JSON.stringify(commit),
      __BRIDGE_BUNDLED__: 'true',
    },
  });
  const bytes = Object.values(result.metafile.outputs).find((o) => o.entryPoint !== undefined)?.bytes ?? 0;
  return { outfile, version, commit, bytes };
}

if (import.meta.filename === process.argv[1] || resolve(process.argv[1] ?? '') === import.meta.filename) {
  const i = process.argv.indexOf('--outfile');
  const out = await buildRelease(i > 0 && process.argv[i + 1] ? { outfile: resolve(process.argv[i + 1]!) } : {});
  process.stdout.write(
    `built ${out.outfile} (${(out.bytes / 1024).toFixed(0)} KiB), version ${out.version}, commit ${out.commit}\n`,
  );
}
