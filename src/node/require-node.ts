/**
 * Refuses a Node.js older than the bridge supports, with a message that says so, before anything
 * else runs: imported first by src/node.ts (ES modules evaluate in import order). The minimum
 * differs by how the bridge runs (docs/operations.md, build and run):
 *  - the release build (dist/agent-id-bridge.mjs, plain JavaScript): Node.js 22.0, the oldest line
 *    still maintained that has every API the bridge and its dependencies use;
 *  - the TypeScript sources (`npm start`): Node.js 22.18, the first 22.x that runs .ts files without
 *    a flag (https://nodejs.org/api/typescript.html#type-stripping). Older 22.x with
 *    --experimental-strip-types would start and then never listen.
 */
import { MIN_NODE_VERSION_BUNDLE, MIN_NODE_VERSION_SOURCE } from '../constants.ts';

declare const __BRIDGE_BUNDLED__: boolean | undefined;

const parse = (v: string): number[] =>
  v
    .replace(/^v/, '')
    .split('.')
    .map((n) => Number.parseInt(n, 10) || 0);

/** The reason `version` cannot run the bridge, or undefined when it can. */
export function nodeVersionProblem(version: string, bundled: boolean): string | undefined {
  const min = bundled ? MIN_NODE_VERSION_BUNDLE : MIN_NODE_VERSION_SOURCE;
  const [a, b] = [parse(version), parse(min)];
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) > (b[i] ?? 0)) return undefined;
    if ((a[i] ?? 0) < (b[i] ?? 0)) {
      const how = bundled
        ? 'dist/agent-id-bridge.mjs'
        : 'the TypeScript sources (use the release build, dist/agent-id-bridge.mjs, on an older 22.x)';
      return `agent-id-bridge needs Node.js ${min} or later to run ${how}; this is Node.js ${version}. Install a maintained Node.js (22 LTS or later).`;
    }
  }
  return undefined;
}

const problem = nodeVersionProblem(
  process.versions.node,
  typeof __BRIDGE_BUNDLED__ === 'boolean' && __BRIDGE_BUNDLED__,
);
if (problem !== undefined) {
  process.stderr.write(
    `${JSON.stringify({ level: 'fatal', time: new Date().toISOString(), type: 'startup', msg: problem })}\n`,
  );
  process.exit(1);
}
