/** Renders schema/policy.schema.json from the zod source of truth for a platform registry. */
import { policyJsonSchema } from './schema.ts';
import type { PlatformModule } from '../verify/contract.ts';

export const SCHEMA_PATH = 'schema/policy.schema.json';

export function renderPolicySchema(platforms: readonly PlatformModule[]): string {
  return `${JSON.stringify({ title: 'agent-id-bridge policy file', ...policyJsonSchema(platforms) }, null, 2)}\n`;
}
