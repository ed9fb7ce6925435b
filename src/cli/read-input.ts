/** Reading a command's input files: "-" is stdin; an unreadable file is a usage error (exit 2). */
import { readFileSync } from 'node:fs';
import { UsageError, type Io } from './command.ts';

export async function readInput(path: string, io: Io, what: string): Promise<string> {
  if (path === '-') return io.readStdin();
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read the ${what} ${path} (${(e as { code?: string }).code ?? (e as Error).message})`);
  }
}
