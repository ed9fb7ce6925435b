#!/usr/bin/env node
/**
 * `npx agent-id-bridge <command>`: the operator's commands, offline (no Entra, no network). Each
 * command is one module beside this one; `--help` works on every one. Exit codes: 0 done, 1 the
 * answer is no (a policy with errors, a refused request), 2 the command could not run as asked.
 * Reference: docs/operations.md#operator-cli.
 */
import { EXIT, parseCommandArgs, UsageError, type Command, type Io } from './command.ts';
import { ficCommand } from './fic.ts';
import { keysGenerateCommand } from './keys-generate.ts';
import { keysRotateCommand } from './keys-rotate.ts';
import { policyCheckCommand } from './policy-check.ts';
import { policyExplainCommand } from './policy-explain.ts';

export const COMMANDS: readonly Command[] = [
  policyCheckCommand,
  policyExplainCommand,
  keysGenerateCommand,
  keysRotateCommand,
  ficCommand,
];

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.words.join(' ').length));
  return [
    'usage: agent-id-bridge <command> [options]   (agent-id-bridge <command> --help for its options)',
    '',
    ...COMMANDS.map((c) => `  ${c.words.join(' ').padEnd(width)}  ${c.summary}`),
    '',
    'Exit codes: 0 done, 1 the answer is no (policy errors, request refused), 2 usage or unreadable input.',
    'Reference: docs/operations.md#operator-cli',
  ].join('\n');
}

export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  const command = COMMANDS.find((c) => c.words.every((w, i) => argv[i] === w));
  if (!command) {
    const asked = argv[0] === undefined || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help';
    if (!asked)
      io.err(
        `agent-id-bridge: unknown command "${argv
          .filter((a) => !a.startsWith('-'))
          .slice(0, 2)
          .join(' ')}"\n\n`,
      );
    (asked ? io.out : io.err)(`${overview()}\n`);
    return asked ? EXIT.ok : EXIT.usage;
  }
  const rest = argv.slice(command.words.length);
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(`${command.help}\n`);
    return EXIT.ok;
  }
  try {
    return await command.run(parseCommandArgs(command, rest), io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`agent-id-bridge ${command.words.join(' ')}: ${e.message}\n${command.help.split('\n')[0]}\n`);
      return EXIT.usage;
    }
    throw e;
  }
}

export const processIo: Io = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  env: process.env,
};

if (import.meta.main) {
  runCli(process.argv.slice(2), processIo).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`agent-id-bridge: ${(e as Error).message}\n`);
      process.exitCode = EXIT.usage;
    },
  );
}
