#!/usr/bin/env node
// The agent-id-bridge-sidecar command: docs/sidecar.md.
import { main } from '../dist/esm/index.js';

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`agent-id-bridge-sidecar: ${e && e.message ? e.message : String(e)}\n`);
  process.exit(1);
});
