/** `agent-id-bridge policy check <file>`: the policy file as the bridge would load it, plus lints. */
import { parsePolicyText } from '../config/policy-file.ts';
import { lintPolicy } from '../policy/lint.ts';
import { loadPlatforms } from './platforms.ts';
import { EXIT, UsageError, type Command } from './command.ts';
import { readInput } from './read-input.ts';

export const policyCheckCommand: Command = {
  words: ['policy', 'check'],
  summary: 'validate a policy file (schema, compile) and lint its rules',
  help: `usage: agent-id-bridge policy check <file|-> [--strict] [--sandbox]

Loads the policy file exactly as the bridge does at start-up and on reload (schema, then compile),
then lints what a valid file may still get wrong:
  - rules never chosen because an earlier rule allows everything they allow (shadowed);
  - rules that can never allow because deny lists their principal or agent;
  - globs and regexes that can match across ":" or "/" (ARNs, n8n:<instance>:workflow:<id>);
  - ids that look mistyped (a GCP principal that is not numeric, an AWS account id without 12 digits).
Numbers where ids belong (unquoted YAML account ids) are errors, with the value YAML read.

Options:
  --strict    exit 1 on warnings too
  --sandbox   allow the sandbox's loopback http URLs (emulators)
  -h, --help  this text

Exit: 0 valid (warnings printed), 1 errors (or warnings with --strict), 2 usage or unreadable file.`,
  options: { strict: { type: 'boolean' }, sandbox: { type: 'boolean' } },
  async run(args, io) {
    const [file, ...extra] = args.positionals;
    if (file === undefined || extra.length > 0) throw new UsageError('name one policy file (or - for stdin)');
    const text = await readInput(file, io, 'policy file');
    const source = file === '-' ? 'stdin' : file;
    const parsed = parsePolicyText(text, source, await loadPlatforms(), {
      allowInsecureLoopback: args.values.sandbox === true,
    });
    if (parsed.problems.length > 0 || !parsed.policy || !parsed.file) {
      io.out(
        `${source}: invalid (${parsed.problems.length} problem${parsed.problems.length === 1 ? '' : 's'})\n${parsed.problems.map((p) => `  error: ${p}\n`).join('')}`,
      );
      return EXIT.no;
    }
    const warnings = lintPolicy(parsed.file);
    const enabled = Object.keys(parsed.platforms).filter((p) => parsed.platforms[p] !== undefined);
    io.out(
      `${source}: valid: ${parsed.policy.rules.length} rules, ${parsed.policy.agents.size} agents, platforms ${enabled.join(', ') || 'none'}${warnings.length > 0 ? `, ${warnings.length} warning${warnings.length === 1 ? '' : 's'}` : ''}\n`,
    );
    for (const w of warnings) io.out(`  warning: ${w.path}: ${w.message}\n`);
    return warnings.length > 0 && args.values.strict === true ? EXIT.no : EXIT.ok;
  },
};
