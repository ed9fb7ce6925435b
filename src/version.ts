/**
 * The bridge's version and the commit it was built from, served by GET /version, in /healthz and
 * in the metrics' build info (docs/operations.md). The release build (scripts/build.ts) injects
 * both; a run from source reports the package version and commit "unknown".
 */

/** Kept equal to package.json's version (test/unit/version.test.ts checks it). */
export const PACKAGE_VERSION = '0.1.0';

declare const __BRIDGE_VERSION__: string | undefined;
declare const __BRIDGE_COMMIT__: string | undefined;

export interface BuildInfo {
  version: string;
  commit: string;
}

export const BUILD_INFO: BuildInfo = {
  version: typeof __BRIDGE_VERSION__ === 'string' ? __BRIDGE_VERSION__ : PACKAGE_VERSION,
  commit: typeof __BRIDGE_COMMIT__ === 'string' && __BRIDGE_COMMIT__ !== '' ? __BRIDGE_COMMIT__ : 'unknown',
};
