import { describe, expect, it } from 'vitest';
import { isoTime, scrubSecrets } from '../../src/audit/audit.ts';
import { TOKEN_TYPE } from '../../src/constants.ts';
import { startSandbox } from '../../sandbox/sandbox.ts';
import type { AuditEvent } from '../../src/audit/audit.ts';
import { postToken } from '../support/http.ts';

describe('audit hygiene', () => {
  it("issue 12: an audit line's time is the ISO form of its millisecond, also when lines of one millisecond share it", () => {
    const instants = [0, 1, 1, 999, 1000, 1_764_460_800_123, 1_764_460_800_123, 1_764_460_800_124, 1];
    for (const ms of instants) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });

  it('scrubs any compact JWS from text that may reach a log', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl';
    expect(scrubSecrets(`Invalid token signature: ${jwt} (x)`)).toBe('Invalid token signature: [redacted-jwt] (x)');
  });

  it('caps a refusal detail that quotes an attacker-chosen issuer, and logs no token', async () => {
    const audit: AuditEvent[] = [];
    const sb = await startSandbox({ port: 0, audit: (e) => audit.push(e) });
    try {
      const payload = Buffer.from(JSON.stringify({ iss: `https://${'a'.repeat(8000)}.example` })).toString('base64url');
      const token = `eyJhbGciOiJSUzI1NiJ9.${payload}.c2ln`;
      const res = await postToken(sb.url, {
        subject_token: token,
        subject_token_type: TOKEN_TYPE.jwt,
        resource: 'https://graph.microsoft.com',
      });
      expect(res.status).toBe(400);
      const line = JSON.stringify(audit.at(-1));
      expect(audit.at(-1)!.detail!.length).toBeLessThanOrEqual(512);
      expect(line).not.toContain(payload);
    } finally {
      await sb.close();
    }
  });
});
