/**
 * `agent-id-bridge keys generate [--out file]`: a fresh RS256 private JWK (src/issuer/keys.ts). With
 * --out, the file is created with mode 0600 and never overwritten; without, stdout carries the key
 * and nothing else (the kid goes to stderr), so `> file` saves exactly the key.
 */
import { writeFileSync } from 'node:fs';
import { generateSigningKeyJwk, importSigningKey } from '../issuer/keys.ts';
import { EXIT, stringOption, UsageError, type Command } from './command.ts';

export const keysGenerateCommand: Command = {
  words: ['keys', 'generate'],
  summary: 'make a signing key (RSA 2048, private JWK) for BRIDGE_SIGNING_KEY',
  help: `usage: agent-id-bridge keys generate [--out FILE]

Generates an RS256 private key (RSA 2048) as a JWK for BRIDGE_SIGNING_KEY or BRIDGE_NEXT_SIGNING_KEY.
  --out FILE  write it to FILE, created with mode 0600 (refused if FILE exists); prints the kid
              without --out the key goes to stdout and nothing else does (the kid goes to stderr)
  -h, --help  this text
Then: BRIDGE_SIGNING_KEY="$(cat FILE)". Keep it secret; never commit it.

Exit: 0 written, 2 usage or FILE not writable (exists, no such directory).`,
  options: { out: { type: 'string' } },
  async run(args, io) {
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument ${args.positionals[0]}`);
    const jwk = await generateSigningKeyJwk();
    const { kid } = await importSigningKey('generated', jwk);
    const out = stringOption(args, 'out');
    if (out === undefined) {
      io.out(`${jwk}\n`);
      io.err(`kid (RFC 7638 thumbprint): ${kid}\n`);
      return EXIT.ok;
    }
    try {
      // 'wx': never replace an existing key; mode applies as the file is created.
      writeFileSync(out, `${jwk}\n`, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      throw new UsageError(`cannot create ${out} (${(e as { code?: string }).code ?? (e as Error).message})`);
    }
    io.out(`wrote ${out} (mode 0600), kid ${kid}\n`);
    return EXIT.ok;
  },
};
