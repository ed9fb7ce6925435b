/** `agent-id-bridge keys rotate`: the rotation steps and their timeline, from the bridge's own constants. */
import {
  ASSERTION_LIFETIME_SEC,
  CLOCK_SKEW_SEC,
  ENTRA_ISSUER_KEYS_CACHE_MAX_SEC,
  JWKS_RESPONSE_MAX_AGE_SEC,
  KEY_ROTATION_PUBLISH_AHEAD_SEC,
} from '../constants.ts';
import { EXIT, stringOption, UsageError, type Command } from './command.ts';

const human = (sec: number) => (sec % 3600 === 0 ? `${sec / 3600} h` : sec % 60 === 0 ? `${sec / 60} min` : `${sec} s`);

export const keysRotateCommand: Command = {
  words: ['keys', 'rotate'],
  summary: 'print the signing key rotation steps and their timeline',
  help: `usage: agent-id-bridge keys rotate [--start TIME]

Prints the three steps of a signing key rotation and when each may happen:
publish the next key, promote it after Entra's key cache has surely refreshed, retire the old one
once no assertion it signed can still be presented.
  --start TIME  when step 1 happens (ISO 8601; default now): the timeline is printed in UTC
  -h, --help    this text

Exit: 0, 2 usage.`,
  options: { start: { type: 'string' } },
  async run(args, io) {
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument ${args.positionals[0]}`);
    const startText = stringOption(args, 'start');
    const startMs = startText === undefined ? Date.now() : Date.parse(startText);
    if (Number.isNaN(startMs)) throw new UsageError(`--start ${startText}: not an ISO 8601 time`);
    const at = (sec: number) => new Date(startMs + sec * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const minPublish = Math.max(ENTRA_ISSUER_KEYS_CACHE_MAX_SEC, JWKS_RESPONSE_MAX_AGE_SEC);
    const retireAfter = ASSERTION_LIFETIME_SEC + CLOCK_SKEW_SEC;
    io.out(
      [
        'Signing key rotation (docs/operations.md#rotating-the-signing-key)',
        '',
        `1. Publish   ${at(0)}`,
        '   agent-id-bridge keys generate --out next.jwk',
        '   Set BRIDGE_NEXT_SIGNING_KEY to its content on every replica (Workers: wrangler secret put BRIDGE_NEXT_SIGNING_KEY).',
        '   Both keys are now in /.well-known/jwks.json; the current key still signs. Check the JWKS lists two kids.',
        '',
        `2. Promote   not before ${at(minPublish)} (${human(minPublish)}: the longest Entra keeps an issuer's keys, ENTRA_ISSUER_KEYS_CACHE_MAX_SEC)`,
        `             advised ${at(KEY_ROTATION_PUBLISH_AHEAD_SEC)} (${human(KEY_ROTATION_PUBLISH_AHEAD_SEC)}, since Entra's cache time is not documented)`,
        '   BRIDGE_SIGNING_KEY = the new key, BRIDGE_NEXT_SIGNING_KEY = the old one, on every replica.',
        '   The old key stays published so that assertions it signed still verify.',
        '',
        `3. Retire    ${human(retireAfter)} after the last replica was promoted (assertion lifetime ${human(ASSERTION_LIFETIME_SEC)}, ASSERTION_LIFETIME_SEC, + ${human(CLOCK_SKEW_SEC)} clock skew)`,
        `             e.g. ${at(KEY_ROTATION_PUBLISH_AHEAD_SEC + retireAfter)} if step 2 finished at the advised time`,
        '   Unset BRIDGE_NEXT_SIGNING_KEY. Delete the old key file.',
        '',
        'Emergency (the current key leaked): skip the wait in step 2 and expect AADSTS errors until Entra refetches the JWKS.',
        '',
      ].join('\n'),
    );
    return EXIT.ok;
  },
};
