/** `npm run schema`: regenerate schema/policy.schema.json from the zod source of truth. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { policyJsonSchema } from './schema.ts';

export const SCHEMA_PATH = 'schema/policy.schema.json';

export function renderPolicySchema(): string {
  return `${JSON.stringify({ title: 'agent-id-bridge policy file', ...policyJsonSchema() }, null, 2)}\n`;
}

if (import.meta.main) {
  mkdirSync('schema', { recursive: true });
  writeFileSync(SCHEMA_PATH, renderPolicySchema());
  console.log(`wrote ${SCHEMA_PATH}`);
}
