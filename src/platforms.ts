/**
 * The platform registry, part of the composition root: the one list of adapters the bridge is built
 * with. The policy schema (its `platforms` section and the rule's platform enum), the JSON Schema of
 * `npm run schema`, the `Platform` type and the proof token types `/token` accepts are all derived
 * from it. Adding a platform is one folder under adapters/ plus one entry here.
 */
import { awsPlatform } from '../adapters/aws/index.ts';
import { gcpPlatform } from '../adapters/gcp/index.ts';
import { n8nPlatform } from '../adapters/n8n/index.ts';
import { oidcPlatform } from '../adapters/oidc/index.ts';

export const PLATFORMS = [awsPlatform, gcpPlatform, n8nPlatform, oidcPlatform] as const;

export type PlatformName = (typeof PLATFORMS)[number]['name'];

/** Every token type a workload proof may come with, on any registered platform (enabled or not). */
export function proofTokenTypes(platforms: readonly { proofTokenTypes: readonly string[] }[]): ReadonlySet<string> {
  return new Set(platforms.flatMap((p) => p.proofTokenTypes));
}
