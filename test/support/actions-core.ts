/**
 * @actions/core as a workflow step calls it, minus its workflow commands on stdout: `getIDToken`
 * writes `::debug::` (the request URL) and `::add-mask::<token>` lines for the runner, which in a test
 * run would only print tokens into the log.
 */
import { getIDToken } from '@actions/core';

export async function getIDTokenQuietly(audience?: string): Promise<string> {
  const write = process.stdout.write;
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (String(chunk).startsWith('::')) return true;
    return (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
  }) as typeof process.stdout.write;
  try {
    return await getIDToken(audience);
  } finally {
    process.stdout.write = write;
  }
}
