/** The command from the repository's sources: `node adapters/sidecar/src/cli.ts [--listen host:port]` (docs/sidecar.md). */
import { main } from './index.ts';

await main(process.argv.slice(2));
