/**
 * Issue 9 item 7: the operator CLI (`npx agent-id-bridge <command>`, src/cli/), driven as a child
 * process the way an operator runs it: output, exit codes (0 done, 1 the answer is no, 2 usage).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ASSERTION_LIFETIME_SEC,
  CLOCK_SKEW_SEC,
  ENTRA_ISSUER_KEYS_CACHE_MAX_SEC,
  KEY_ROTATION_PUBLISH_AHEAD_SEC,
} from '../../src/constants.ts';
import { importSigningKey } from '../../src/issuer/keys.ts';

const dir = mkdtempSync(join(tmpdir(), 'bridge-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[], input?: string) {
  const run = spawnSync(process.execPath, ['src/cli/main.ts', ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    ...(input !== undefined ? { input } : {}),
    env: { PATH: process.env.PATH ?? '' },
  });
  return { code: run.status, out: run.stdout, err: run.stderr };
}

const TENANT = '11111111-1111-4111-8111-111111111111';
const BLUEPRINT = '22222222-2222-4222-8222-222222222222';
const AGENT = '33333333-3333-4333-8333-333333333333';
const OTHER_AGENT = '44444444-4444-4444-8444-444444444444';
const GRAPH = 'https://graph.microsoft.com';
const SA = '108234567890123456789';

const POLICY = `version: 1
tenants:
  - tenantId: ${TENANT}
    blueprints:
      - appId: ${BLUEPRINT}
        ficSubject: agent-id-bridge:prod
        agents: [{ id: ${AGENT}, name: billing }, { id: ${OTHER_AGENT} }]
platforms: { gcp: {}, aws: {}, n8n: { instances: { prod: { jwksUrl: "https://n8n.example.com/jwks.json" } } } }
rules:
  - { name: billing-gcp, platform: gcp, principal: "${SA}", agent: ${AGENT}, resources: [${GRAPH}] }
  - { name: billing-aws, platform: aws, principal: "arn:aws:iam::123456789012:role/billing", attributes: { account: "123456789012" }, agent: ${AGENT}, resources: [${GRAPH}] }
`;

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function gcpJwt(
  claims: Record<string, unknown> = {},
  expSec = Math.floor(Date.now() / 1000) + 3600,
): Promise<string> {
  const { privateKey } = await generateKeyPair('RS256');
  return new SignJWT({
    sub: SA,
    email: 'billing@billing-prod.iam.gserviceaccount.com',
    email_verified: true,
    ...claims,
  })
    .setProtectedHeader({ alg: 'RS256', kid: 'k' })
    .setIssuer('https://accounts.google.com')
    .setAudience('https://bridge.contoso.com')
    .setIssuedAt(expSec - 3600)
    .setExpirationTime(expSec)
    .sign(privateKey);
}

describe('issue 9 item 7: the operator CLI', () => {
  it('issue 9 item 7: --help works on every command (exit 0); an unknown command or option is a usage error (exit 2)', () => {
    const overview = cli(['--help']);
    expect(overview.code).toBe(0);
    for (const words of [
      ['policy', 'check'],
      ['policy', 'explain'],
      ['keys', 'generate'],
      ['keys', 'rotate'],
      ['fic'],
    ]) {
      expect(overview.out).toContain(words.join(' '));
      const help = cli([...words, '--help']);
      expect(help.code).toBe(0);
      expect(help.out).toMatch(new RegExp(`^usage: agent-id-bridge ${words.join(' ')}`));
      expect(help.out).toMatch(/Exit: /);
    }
    expect(cli(['policy', 'frobnicate']).code).toBe(2);
    expect(cli(['keys', 'rotate', '--bogus']).code).toBe(2);
  }, 60_000);

  it("issue 9 item 7: npx agent-id-bridge runs the bin entry under the project's Node", () => {
    const run = spawnSync('npm', ['exec', '--offline', '--', 'agent-id-bridge', 'keys', 'rotate', '--help'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^usage: agent-id-bridge keys rotate/);
  }, 60_000);

  describe('policy check', () => {
    it('issue 9 item 7: a valid policy exits 0 and says what it holds', () => {
      const r = cli(['policy', 'check', file('ok.yaml', POLICY)]);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/valid: 2 rules, 2 agents, platforms aws, gcp, n8n\n$/);
    });

    it('issue 9 item 7: lints shadowed rules, separator-crossing patterns, a non-numeric GCP principal and a short account id; --strict makes them fail', () => {
      const lint = `${POLICY}  - { name: broad, platform: aws, principal: { regex: "arn:aws:iam::.*:role/billing" }, agent: ${AGENT}, resources: [${GRAPH}] }
  - { name: shadowed, platform: aws, principal: "arn:aws:iam::999999999999:role/billing", agent: ${AGENT}, resources: [${GRAPH}] }
  - { name: glob, platform: n8n, principal: { glob: "n8n:*:workflow:abc" }, agent: ${OTHER_AGENT}, resources: [${GRAPH}] }
  - { name: email, platform: gcp, principal: "billing@billing-prod.iam.gserviceaccount.com", agent: ${OTHER_AGENT}, resources: [${GRAPH}] }
  - { name: short, platform: aws, principal: "arn:aws:iam::12345678901:role/x", attributes: { account: "12345678901" }, agent: ${OTHER_AGENT}, resources: [${GRAPH}] }
`;
      const path = file('lint.yaml', lint);
      const r = cli(['policy', 'check', path]);
      expect(r.code).toBe(0);
      expect(r.out).toContain(
        'warning: policy.rules[3]: rule "shadowed" is never chosen: rules[2] "broad" comes first',
      );
      expect(r.out).toMatch(
        /warning: policy\.rules\[2\]\.principal: regex "arn:aws:iam::\.\*:role\/billing": "\." can match ":" or "\/"/,
      );
      expect(r.out).toMatch(
        /warning: policy\.rules\[4\]\.principal: glob "n8n:\*:workflow:abc": \* stops only at "\/"/,
      );
      expect(r.out).toMatch(
        /warning: policy\.rules\[5\]\.principal: GCP principals are the service account's numeric unique id/,
      );
      expect(r.out).toMatch(
        /warning: policy\.rules\[6\]\.attributes\.account: AWS account ids have 12 digits; "12345678901" has 11/,
      );
      expect(r.out).not.toMatch(/rules\[[01]\]/);
      expect(cli(['policy', 'check', '--strict', path]).code).toBe(1);
    });

    it('issue 9 item 7: an unquoted numeric id is an error naming the fix (exit 1); an unreadable file exits 2', () => {
      const r = cli([
        'policy',
        'check',
        file('numeric.yaml', POLICY.replace(`principal: "${SA}"`, `principal: ${SA}`)),
      ]);
      expect(r.code).toBe(1);
      expect(r.out).toContain(
        `policy.rules.0.principal: must be a string: quote numeric ids such as account numbers, e.g. "${SA}" (YAML read ${SA} as the number 108234567890123460000)`,
      );
      const missing = cli(['policy', 'check', join(dir, 'nope.yaml')]);
      expect(missing.code).toBe(2);
      expect(missing.err).toMatch(/cannot read the policy file .*ENOENT/);
    });

    it('issue 9 item 7: a rule the deny list blocks is reported as never allowing', () => {
      const r = cli(['policy', 'check', file('deny.yaml', `${POLICY}deny: { agents: [${AGENT}] }\n`)]);
      expect(r.out).toContain(
        'warning: policy.rules[0].agent: rule "billing-gcp" can never allow: its agent is on deny.agents',
      );
    });
  });

  describe('policy explain', () => {
    const policy = () => file('explain.yaml', POLICY);

    it('issue 9 item 7: a JWT is decoded unverified, says so first, and traces the deciding rule (exit 0)', async () => {
      const r = cli(['policy', 'explain', policy(), '--proof', file('gcp.jwt', await gcpJwt())]);
      expect(r.code).toBe(0);
      expect(r.out.split('\n')[0]).toMatch(
        /^!! UNVERIFIED PROOF: decoded offline; its signature, audience, issuer keys and replay were NOT checked\./,
      );
      expect(r.out).toContain(`workload: platform gcp, issuer https://accounts.google.com, principal ${SA}`);
      expect(r.out).toContain('attributes: email=billing@billing-prod.iam.gserviceaccount.com, project=billing-prod');
      expect(r.out).toContain('  - rules matching this workload: billing-gcp');
      expect(r.out).toContain(
        `decision: ALLOWED by rule billing-gcp: agent ${AGENT} (billing), tenant ${TENANT}, blueprint ${BLUEPRINT}, FIC subject agent-id-bridge:prod`,
      );
    });

    it('issue 9 item 7: --now judges expiry; a resource the rule does not list is refused (exit 1)', async () => {
      const exp = Math.floor(Date.parse('2026-01-01T00:00:00Z') / 1000);
      const jwt = file('old.jwt', await gcpJwt({}, exp));
      const expired = cli(['policy', 'explain', policy(), '--proof', jwt, '--now', '2026-01-01T00:01:01Z']);
      expect(expired.code).toBe(1);
      expect(expired.out).toContain('decision: REFUSED (proof_expired)');
      const inTime = cli([
        'policy',
        'explain',
        policy(),
        '--proof',
        jwt,
        '--now',
        '2025-12-31T23:30:00Z',
        '--resource',
        'https://management.azure.com',
      ]);
      expect(inTime.code).toBe(1);
      expect(inTime.out).toContain(
        'decision: REFUSED (resource_not_allowed): resource https://management.azure.com not allowed (rule billing-gcp)',
      );
    });

    it('issue 9 item 7: claims JSON on stdin names an AWS workload; the deny list is applied and named', () => {
      const claims = JSON.stringify({
        platform: 'aws',
        principal: 'arn:aws:iam::123456789012:role/billing',
        attributes: { account: '123456789012' },
      });
      const allowed = cli(['policy', 'explain', policy(), '--proof', '-'], claims);
      expect(allowed.code).toBe(0);
      expect(allowed.out).not.toContain('UNVERIFIED');
      expect(allowed.out).toContain('decision: ALLOWED by rule billing-aws');
      const denyPolicy = file(
        'explain-deny.yaml',
        `${POLICY}deny: { principals: { aws: ["arn:aws:iam::123456789012:role/billing"] } }\n`,
      );
      const denied = cli(['policy', 'explain', denyPolicy, '--proof', '-'], claims);
      expect(denied.code).toBe(1);
      expect(denied.out).toContain('decision: REFUSED (denied_by_operator): on deny.principals');
    });

    it('issue 9 item 7: input it cannot read as a proof is a usage error (exit 2)', () => {
      const r = cli(['policy', 'explain', policy(), '--proof', '-'], 'not a proof');
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/neither a JWT nor JSON claims/);
      expect(cli(['policy', 'explain', policy()]).code).toBe(2);
    });
  });

  describe('keys', () => {
    it('issue 9 item 7: keys generate prints only the key on stdout (the kid on stderr)', async () => {
      const r = cli(['keys', 'generate']);
      expect(r.code).toBe(0);
      const lines = r.out.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      const key = await importSigningKey('stdout', lines[0]!);
      expect(r.err).toContain(key.kid);
    });

    it('issue 9 item 7: keys generate --out creates a 0600 file, prints no key material, and never overwrites', async () => {
      const out = join(dir, 'signing.jwk');
      const r = cli(['keys', 'generate', '--out', out]);
      expect(r.code).toBe(0);
      expect(statSync(out).mode & 0o777).toBe(0o600);
      const text = readFileSync(out, 'utf8');
      const key = await importSigningKey('file', text);
      expect(r.out).toBe(`wrote ${out} (mode 0600), kid ${key.kid}\n`);
      const again = cli(['keys', 'generate', '--out', out]);
      expect(again.code).toBe(2);
      expect(again.err).toMatch(/EEXIST/);
      expect(readFileSync(out, 'utf8')).toBe(text);
    });

    it("issue 9 item 9: npm run keygen writes the key to a file, so npm's banner never lands in it", async () => {
      const out = join(dir, 'npm-run.jwk');
      const run = spawnSync('npm', ['run', '--offline', 'keygen', '--', '--out', out], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(run.status).toBe(0);
      expect(run.stdout).not.toMatch(/"d":/);
      expect(statSync(out).mode & 0o777).toBe(0o600);
      await expect(importSigningKey('BRIDGE_SIGNING_KEY', readFileSync(out, 'utf8'))).resolves.toMatchObject({
        kid: expect.any(String),
      });
    });

    it("issue 9 item 7: keys rotate prints the timeline from the bridge's constants", () => {
      const start = '2026-03-01T09:00:00Z';
      const r = cli(['keys', 'rotate', '--start', start]);
      expect(r.code).toBe(0);
      const at = (sec: number) => new Date(Date.parse(start) + sec * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      expect(r.out).toContain(`1. Publish   ${at(0)}`);
      expect(r.out).toContain(
        `2. Promote   not before ${at(ENTRA_ISSUER_KEYS_CACHE_MAX_SEC)} (1 h: the longest Entra keeps an issuer's keys`,
      );
      expect(r.out).toContain(`advised ${at(KEY_ROTATION_PUBLISH_AHEAD_SEC)} (24 h`);
      expect(r.out).toContain(
        `3. Retire    ${(ASSERTION_LIFETIME_SEC + CLOCK_SKEW_SEC) / 60} min after the last replica was promoted (assertion lifetime 5 min`,
      );
    });
  });

  describe('fic', () => {
    it("issue 9 item 7: prints the Graph request per cloud: issuer, subject and the cloud's audience", () => {
      const cases = [
        ['global', 'https://graph.microsoft.com', 'api://AzureADTokenExchange'],
        ['usgov', 'https://graph.microsoft.us', 'api://AzureADTokenExchangeUSGov'],
        ['usgov-dod', 'https://dod-graph.microsoft.us', 'api://AzureADTokenExchangeUSGov'],
        ['china', 'https://microsoftgraph.chinacloudapi.cn', 'api://AzureADTokenExchangeChina'],
      ] as const;
      for (const [cloud, graph, audience] of cases) {
        const r = cli(['fic', '--issuer', 'https://bridge.contoso.com', '--blueprint', BLUEPRINT, '--cloud', cloud]);
        expect(r.code).toBe(0);
        expect(r.out).toContain(
          `POST ${graph}/v1.0/applications(appId='${BLUEPRINT}')/federatedIdentityCredentials\nContent-Type: application/json\n`,
        );
        const body = JSON.parse(r.out.slice(r.out.indexOf('{'), r.out.indexOf('\n}') + 2)) as Record<string, unknown>;
        expect(body).toEqual({
          name: 'agent-id-bridge',
          issuer: 'https://bridge.contoso.com',
          subject: `agent-id-bridge:${BLUEPRINT}`,
          audiences: [audience],
        });
      }
    });

    it('issue 9 item 7: --policy gives each blueprint with its ficSubject; an issuer Entra would not match is refused (exit 2)', () => {
      const r = cli(['fic', '--issuer', 'https://bridge.contoso.com', '--policy', file('fic.yaml', POLICY)]);
      expect(r.code).toBe(0);
      expect(r.out).toContain(`# Blueprint ${BLUEPRINT} (tenant ${TENANT}), cloud global`);
      expect(r.out).toContain('"subject": "agent-id-bridge:prod"');
      const slash = cli(['fic', '--issuer', 'https://bridge.contoso.com/', '--blueprint', BLUEPRINT]);
      expect(slash.code).toBe(2);
      expect(slash.err).toMatch(/byte for byte/);
    });
  });
});
