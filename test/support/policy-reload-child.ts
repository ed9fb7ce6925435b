/**
 * A sandbox bridge whose policy lives in a file, reloaded as `npm start` reloads it (SIGHUP and
 * file changes, src/policy/reload.ts): the kill switch tests drive it as a child process.
 * argv[2]: the policy file to write and watch. Prints one JSON line {url} on stdout when ready;
 * audit lines follow on stdout, reload events on stderr.
 */
import { writeFileSync } from 'node:fs';
import { parsePolicyText } from '../../src/config/policy-file.ts';
import { PLATFORMS } from '../../src/platforms.ts';
import { reloadPolicyFile } from '../../src/policy/reload.ts';
import { startSandbox } from '../../sandbox/sandbox.ts';

const file = process.argv[2]!;
let text = '';
const sb = await startSandbox({
  port: 0,
  policy: (p) => {
    text = JSON.stringify(p, null, 2);
    writeFileSync(file, text);
    return p;
  },
});
const runtime = { allowInsecureLoopback: true };
const reloader = reloadPolicyFile({
  file,
  platforms: PLATFORMS,
  runtime,
  target: sb.deps,
  loadedPlatforms: parsePolicyText(text, file, PLATFORMS, runtime).platforms,
});
process.stdout.write(`${JSON.stringify({ url: sb.url })}\n`);
process.on('SIGTERM', () => {
  reloader.close();
  void sb.close().then(() => process.exit(0));
});
