/**
 * The environment of a consumer outside this repository, for tests that install packed packages and
 * run them the way an operator's host would: PATH without the repository's node_modules/.bin and its
 * Node (so `node` is the system's), and of npm's settings only those such a consumer would also have
 * (the rest of npm_* describes this repository).
 */
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

const SYSTEM_PATH = (process.env.PATH ?? '')
  .split(delimiter)
  .filter((dir) => dir && !dir.includes(`node_modules${'/'}.bin`) && !dir.startsWith(join(REPO, 'node_modules')))
  .join(delimiter);

const NPM_KEPT = ['npm_config_cache', 'npm_config_registry'];

export const outsideEnv = (): Record<string, string> => ({
  PATH: SYSTEM_PATH,
  HOME: process.env.HOME ?? tmpdir(),
  ...Object.fromEntries(NPM_KEPT.flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : []))),
});
