/**
 * Builds one client package (adapters/client, adapters/aws/client, adapters/gcp/client,
 * adapters/sidecar) into its `dist/`: the package's `prepack` script, so `npm pack` always ships a
 * fresh build.
 * Usage: node adapters/client/build.ts [package directory, default the current one]
 *
 * - JavaScript: esbuild bundles `src/index.ts` with the repository files it imports (the exchange
 *   core's cache, constants) for Node 20, twice: ESM in dist/esm, CommonJS in dist/cjs, each with
 *   a package.json naming its format. npm dependencies stay imports; so do the other packages of
 *   this repository (the core, the platform packages), imported by their published names.
 * - Declarations: tsc emits them; the files the entry's declarations reach are copied next to the
 *   JavaScript of each format (dist/<format>/types/...), with the same rewrite for the packages.
 * - It fails when the bundle imports anything but Node built-ins and the package's dependencies:
 *   no server dependency (hono, msal, zod, jose ...) can reach a client package.
 * docs/clients.md describes the packages.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
/** The repository's packages by entry: one imports another by a relative path here, by its name when published. */
const WORKSPACE_PACKAGES = new Map<string, string>([
  [join(REPO, 'adapters/client/src/index.ts'), '@agent-id-bridge/client'],
  [join(REPO, 'adapters/aws/client/src/index.ts'), '@agent-id-bridge/aws'],
  [join(REPO, 'adapters/gcp/client/src/index.ts'), '@agent-id-bridge/gcp'],
]);
const FORMATS = { esm: 'module', cjs: 'commonjs' } as const;
/** The oldest Node every live AWS Lambda Node runtime has (docs/clients.md, "Runtimes"). */
const NODE_TARGET = 'node20';

export async function buildClientPackage(packageDir: string): Promise<void> {
  const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
    name: string;
    dependencies?: Record<string, string>;
  };
  const entry = join(packageDir, 'src/index.ts');
  const allowed = new Set(Object.keys(pkg.dependencies ?? {}));
  rmSync(join(packageDir, 'dist'), { recursive: true, force: true });

  // Packages reach each other by a relative path in this repository; published, each is a dependency.
  const workspaceAsPackage: Plugin = {
    name: 'workspace-as-package',
    setup(b) {
      b.onResolve({ filter: /^\.\.?\// }, (args) => {
        const target = resolve(args.resolveDir, args.path);
        const name = target === entry ? undefined : WORKSPACE_PACKAGES.get(target);
        return name === undefined ? undefined : { path: name, external: true };
      });
    },
  };
  for (const format of Object.keys(FORMATS) as (keyof typeof FORMATS)[]) {
    const out = join(packageDir, 'dist', format);
    const result = await build({
      entryPoints: [entry],
      outfile: join(out, 'index.js'),
      bundle: true,
      platform: 'node',
      target: NODE_TARGET,
      format,
      packages: 'external',
      plugins: [workspaceAsPackage],
      metafile: true,
      legalComments: 'none',
      logLevel: 'warning',
    });
    writeFileSync(join(out, 'package.json'), `${JSON.stringify({ type: FORMATS[format] })}\n`);
    for (const output of Object.values(result.metafile.outputs)) {
      for (const imp of output.imports) {
        const name = imp.path.startsWith('@') ? imp.path.split('/').slice(0, 2).join('/') : imp.path.split('/')[0]!;
        if (!imp.external || !(allowed.has(name) || builtinModules.includes(imp.path.replace(/^node:/, '')))) {
          throw new Error(
            `${pkg.name}: the bundle imports ${JSON.stringify(imp.path)}, which is neither a Node built-in nor a dependency of the package`,
          );
        }
      }
    }
  }
  emitDeclarations(packageDir, entry);
}

function emitDeclarations(packageDir: string, entry: string): void {
  const tmp = mkdtempSync(join(tmpdir(), 'agent-id-bridge-dts-'));
  try {
    // The repository's compiler options (tsconfig.json), with declaration output.
    execFileSync(
      process.execPath,
      [
        join(REPO, 'node_modules/typescript/bin/tsc'),
        entry,
        ...['--ignoreConfig', '--declaration', '--emitDeclarationOnly', '--outDir', tmp, '--rootDir', REPO],
        ...[
          '--target',
          'es2023',
          '--lib',
          'es2023,dom,dom.iterable',
          '--module',
          'nodenext',
          '--moduleResolution',
          'nodenext',
          '--types',
          'node',
        ],
        ...['--strict', '--allowImportingTsExtensions', '--verbatimModuleSyntax', '--skipLibCheck'],
      ],
      { cwd: REPO, stdio: 'inherit' },
    );
    const dts = (source: string) => join(tmp, relative(REPO, source).replace(/\.ts$/, '.d.ts'));
    const packageDts = new Map([...WORKSPACE_PACKAGES].filter(([e]) => e !== entry).map(([e, name]) => [dts(e), name]));
    const files = new Map<string, string>();
    const queue = [dts(entry)];
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (files.has(file)) continue;
      const text = readFileSync(file, 'utf8').replace(
        /((?:from|import)\s*\(?\s*)(['"])(\.\.?\/[^'"]+)\2/g,
        (_m, lead: string, q: string, spec: string) => {
          const target = resolve(dirname(file), spec).replace(/\.(?:d\.)?[jt]s$/, '.d.ts');
          if (!existsSync(target))
            throw new Error(`declarations: ${relative(tmp, file)} imports ${spec}, which tsc did not emit`);
          const name = packageDts.get(target);
          if (name !== undefined) return `${lead}${q}${name}${q}`;
          queue.push(target);
          return `${lead}${q}${spec.replace(/\.(?:d\.)?[jt]s$/, '.js')}${q}`;
        },
      );
      files.set(file, text);
    }
    for (const format of Object.keys(FORMATS)) {
      const types = join(packageDir, 'dist', format, 'types');
      for (const [file, text] of files) {
        const target = join(types, relative(tmp, file));
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(target, text);
      }
      const entryModule = `./types/${relative(tmp, dts(entry)).replace(/\.d\.ts$/, '.js')}`;
      writeFileSync(join(packageDir, 'dist', format, 'index.d.ts'), `export * from '${entryModule}';\n`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildClientPackage(resolve(process.argv[2] ?? process.cwd()));
}
