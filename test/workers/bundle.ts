/**
 * The Worker bundle as `wrangler deploy` would upload it (`npm run size:workers`): built with
 * `wrangler deploy --dry-run --outdir`, then checked for what the Workers build promises:
 *  - at most 350 KiB gzip (the budget of docs/workers.md#what-differs-from-node; the free plan's limit is 3 MiB compressed);
 *  - no node:* import (wrangler.toml runs without nodejs_compat, where such an import would fail
 *    at startup; wrangler itself leaves it unresolved and builds anyway);
 *  - none of the Node-only libraries: msal-node (transport-msal.ts), the AWS SDK, google-auth-library,
 *    @hono/node-server — those belong to the Node entry and the client helpers;
 *  - no secret option among wrangler.toml's [vars].
 */
import { spawnSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const REPO = resolve(import.meta.dirname, '../..');
const BUDGET_GZIP_KIB = 350;
const SECRET_OPTIONS = ['BRIDGE_SIGNING_KEY', 'BRIDGE_NEXT_SIGNING_KEY', 'BRIDGE_POLICY'];
const NODE_ONLY = [
  /node_modules\/@azure\/msal-/,
  /src\/entra\/transport-msal\.ts$/,
  /node_modules\/@aws-sdk\//,
  /node_modules\/google-auth-library\//,
  /node_modules\/@hono\/node-server\//,
  /node_modules\/@smithy\//,
];
/** `from "x"`, `import("x")`, `require("x")` (esbuild's `__require` too) of a node: or bare Node builtin. */
const MODULE_REF = /(?:\bfrom\s*|\bimport\s*\(\s*|require\s*\(\s*)["']([@a-z0-9_:/.-]+)["']/g;
const isNodeBuiltin = (name: string) => name.startsWith('node:') || builtinModules.includes(name);

const kib = (bytes: number) => (bytes / 1024).toFixed(1);

function build(outdir: string): { wranglerLine: string } {
  const run = spawnSync(
    process.execPath,
    [
      join(REPO, 'node_modules/wrangler/bin/wrangler.js'),
      'deploy',
      '--dry-run',
      '--outdir',
      outdir,
      '--metafile',
      join(outdir, 'meta.json'),
    ],
    {
      cwd: REPO,
      encoding: 'utf8',
      timeout: 120_000,
      env: {
        ...process.env,
        WRANGLER_SEND_METRICS: 'false',
        WRANGLER_SEND_ERROR_REPORTS: 'false',
        CLOUDFLARE_CF_FETCH_ENABLED: 'false',
        CI: 'true',
      },
    },
  );
  if (run.status !== 0)
    throw new Error(`wrangler deploy --dry-run failed (${run.status}):\n${run.stdout}\n${run.stderr}`);
  return { wranglerLine: /Total Upload:.*$/m.exec(run.stdout)?.[0] ?? '(no size line)' };
}

/** Keys of the uncommented [vars] table of a wrangler.toml (a flat table of strings). */
function varsKeys(toml: string): string[] {
  const keys: string[] = [];
  let inVars = false;
  for (const raw of toml.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (/^\[\[?.*\]\]?$/.test(line)) inVars = line === '[vars]';
    else if (inVars && /^[A-Za-z_][A-Za-z0-9_]*\s*=/.test(line)) keys.push(line.split('=')[0]!.trim());
  }
  return keys;
}

function main(): number {
  const outdir = mkdtempSync(join(tmpdir(), 'bridge-bundle-'));
  const results: [string, string | undefined][] = [];
  try {
    const { wranglerLine } = build(outdir);
    const modules = readdirSync(outdir).filter((f) => /\.(m?js|wasm)$/.test(f));
    const raw = modules.reduce((n, f) => n + readFileSync(join(outdir, f)).length, 0);
    const gzip = modules.reduce((n, f) => n + gzipSync(readFileSync(join(outdir, f))).length, 0);
    console.log(
      `Worker bundle: ${kib(raw)} KiB, ${kib(gzip)} KiB gzip (budget ${BUDGET_GZIP_KIB} KiB gzip); wrangler: ${wranglerLine}`,
    );
    results.push([
      `gzip size ${kib(gzip)} KiB ≤ ${BUDGET_GZIP_KIB} KiB`,
      gzip <= BUDGET_GZIP_KIB * 1024 ? undefined : `${kib(gzip)} KiB is over the budget`,
    ]);

    const code = modules
      .filter((f) => !f.endsWith('.wasm'))
      .map((f) => readFileSync(join(outdir, f), 'utf8'))
      .join('\n');
    const nodeImports = [...new Set([...code.matchAll(MODULE_REF)].map((m) => m[1]!).filter(isNodeBuiltin))];
    results.push([
      'no node:* import (runs without nodejs_compat)',
      nodeImports.length === 0 ? undefined : `imports ${nodeImports.join(', ')}`,
    ]);

    const meta = JSON.parse(readFileSync(join(outdir, 'meta.json'), 'utf8')) as { inputs: Record<string, unknown> };
    const nodeOnly = Object.keys(meta.inputs).filter((f) => NODE_ONLY.some((re) => re.test(f)));
    results.push([
      'no Node-only library (msal-node, AWS SDK, google-auth-library, @hono/node-server)',
      nodeOnly.length === 0 ? undefined : `bundles ${nodeOnly.slice(0, 5).join(', ')}`,
    ]);

    const secretVars = varsKeys(readFileSync(join(REPO, 'wrangler.toml'), 'utf8')).filter((k) =>
      SECRET_OPTIONS.includes(k),
    );
    results.push([
      'no secret option in wrangler.toml [vars]',
      secretVars.length === 0 ? undefined : `${secretVars.join(', ')} must be set with wrangler secret put`,
    ]);
  } catch (e) {
    results.push(['build', (e as Error).message]);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
  for (const [name, problem] of results) console.log(problem === undefined ? `  ✓ ${name}` : `  ✗ ${name}: ${problem}`);
  const failed = results.filter(([, p]) => p !== undefined).length;
  console.log(`bundle: ${results.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = main();
