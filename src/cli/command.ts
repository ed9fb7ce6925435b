/** The shape of one operator command (src/cli/main.ts dispatches) and the exit codes every command shares. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** 0: done (check passed, request allowed); 1: the answer is no (problems found, request refused); 2: the command could not run as asked. */
export const EXIT = { ok: 0, no: 1, usage: 2 } as const;

export interface Io {
  out(text: string): void;
  err(text: string): void;
  readStdin(): Promise<string>;
  env: Readonly<Record<string, string | undefined>>;
}

export interface Command {
  /** Words that select it, e.g. ['policy', 'check']. */
  words: readonly string[];
  summary: string;
  /** Full --help text, usage first. */
  help: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(args: ParsedArgs, io: Io): Promise<number>;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** A usage error: printed with the command's usage line, exit 2. */
export class UsageError extends Error {}

export function parseCommandArgs(command: Command, argv: readonly string[]): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: command.options,
      allowPositionals: true,
      strict: true,
    });
    return { values: values as ParsedArgs['values'], positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export const stringOption = (args: ParsedArgs, name: string): string | undefined => {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
};
