/** `npm run schema`: regenerate schema/policy.schema.json for the registered platforms (src/platforms.ts). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { renderPolicySchema, SCHEMA_PATH } from './config/write-schema.ts';
import { PLATFORMS } from './platforms.ts';

if (import.meta.main) {
  mkdirSync('schema', { recursive: true });
  writeFileSync(SCHEMA_PATH, renderPolicySchema(PLATFORMS));
  console.log(`wrote ${SCHEMA_PATH}`);
}
