/**
 * Issue 9 item 8, the kill switch on Node: a `deny` section in the policy file refuses principals,
 * agents and n8n instances whatever the rules say, audited as denied_by_operator while the caller
 * gets the same answer as "no rule" (docs/operations.md#kill-switch). The policy file is reloaded on
 * SIGHUP and on change, validated first: a bad file keeps the policy in force.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/audit.ts';
import { TOKEN_TYPE } from '../../src/constants.ts';
import { toWire } from '../../src/errors.ts';
import { startSandbox, type Sandbox, type SandboxPolicy } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';
import { postToken } from '../support/http.ts';
import { signN8nAssertion } from '../workers/harness/n8n-assertion.ts';

interface N8nManifest {
  instanceId: string;
  workflowId: string;
  privateJwk: Record<string, string>;
}

const gcpPrincipal = (p: SandboxPolicy) => p.rules.find((r) => r.platform === 'gcp')!.principal as string;

async function gcpProof(url: string): Promise<string> {
  const m = (await (await fetch(`${url}/_sandbox`)).json()) as { gcp: { metadataHost: string } };
  const res = await fetch(
    `http://${m.gcp.metadataHost}/computeMetadata/v1/instance/service-accounts/default/identity?audience=${encodeURIComponent(url)}&format=full`,
    { headers: { 'Metadata-Flavor': 'Google' } },
  );
  return res.text();
}

async function n8nProof(url: string): Promise<string> {
  const m = (await (await fetch(`${url}/_sandbox`)).json()) as { n8n: N8nManifest };
  return signN8nAssertion({ ...m.n8n, audience: `${url}/token` });
}

const exchangeGcp = async (url: string) =>
  postToken(url, {
    subject_token: await gcpProof(url),
    subject_token_type: TOKEN_TYPE.idToken,
    resource: SANDBOX.graph,
  });

describe('issue 9 item 8: the deny section of the policy file', () => {
  const audit: AuditEvent[] = [];
  let sb: Sandbox;
  let policy: SandboxPolicy;
  beforeAll(async () => {
    sb = await startSandbox({ port: 0, audit: (e) => audit.push(e), policy: (p) => (policy = p) });
  });
  afterAll(async () => sb?.close());

  /** Swap the running policy for one with this deny section (what a reload does). */
  async function withDeny(deny: Record<string, unknown>): Promise<void> {
    const { parsePolicyText } = await import('../../src/config/policy-file.ts');
    const { PLATFORMS } = await import('../../src/platforms.ts');
    const parsed = parsePolicyText(JSON.stringify({ ...policy, deny }), 'test', PLATFORMS, {
      allowInsecureLoopback: true,
    });
    expect(parsed.problems).toEqual([]);
    sb.deps.policy = parsed.policy!;
  }

  const noRule = toWire('no_rule_matches');

  it('issue 9 item 8: a denied principal is refused like an unmatched one, audited as denied_by_operator, before Entra', async () => {
    expect((await exchangeGcp(sb.url)).status).toBe(200);
    await withDeny({ principals: { gcp: [gcpPrincipal(policy)] } });
    sb.entra.resetCalls();
    const res = await exchangeGcp(sb.url);
    expect(res.status).toBe(noRule.status);
    expect(res.body).toMatchObject({ error: noRule.error, error_description: noRule.description });
    expect(JSON.stringify(res.body)).not.toMatch(/deny|operator/i);
    expect(audit.at(-1)).toMatchObject({
      outcome: 'denied',
      reason: 'denied_by_operator',
      fields: { list: 'principals', received: gcpPrincipal(policy) },
    });
    expect(sb.entra.calls).toHaveLength(0);
    // /explain refuses the same way: a dry run does not reveal the list either.
    const explained = await postToken(
      sb.url,
      { subject_token: await gcpProof(sb.url), subject_token_type: TOKEN_TYPE.idToken, resource: SANDBOX.graph },
      { path: '/explain' },
    );
    expect(explained.body).toMatchObject({ error: noRule.error, error_description: noRule.description });
    expect(audit.at(-1)).toMatchObject({ reason: 'denied_by_operator' });
  });

  it('issue 9 item 8: a denied agent identity is refused for every workload a rule maps to it', async () => {
    await withDeny({ agents: [SANDBOX.agentId.toUpperCase()] });
    const res = await exchangeGcp(sb.url);
    expect(res.body).toMatchObject({ error: noRule.error, error_description: noRule.description });
    expect(audit.at(-1)).toMatchObject({
      reason: 'denied_by_operator',
      fields: { list: 'agents', received: SANDBOX.agentId },
    });
    const n8n = await postToken(sb.url, {
      subject_token: await n8nProof(sb.url),
      subject_token_type: TOKEN_TYPE.jwt,
      resource: SANDBOX.graph,
    });
    expect(n8n.status).toBe(noRule.status);
    expect(audit.at(-1)).toMatchObject({ platform: 'n8n', reason: 'denied_by_operator', fields: { list: 'agents' } });
  });

  it('issue 9 item 8: a denied n8n instance is refused for all its workflows; other platforms keep working', async () => {
    const m = (await (await fetch(`${sb.url}/_sandbox`)).json()) as { n8n: N8nManifest };
    await withDeny({ n8nInstances: [m.n8n.instanceId] });
    const n8n = await postToken(sb.url, {
      subject_token: await n8nProof(sb.url),
      subject_token_type: TOKEN_TYPE.jwt,
      resource: SANDBOX.graph,
    });
    expect(n8n.body).toMatchObject({ error: noRule.error, error_description: noRule.description });
    expect(audit.at(-1)).toMatchObject({
      reason: 'denied_by_operator',
      fields: { list: 'n8nInstances', received: m.n8n.instanceId },
    });
    expect((await exchangeGcp(sb.url)).status).toBe(200);
  });
});

describe('issue 9 item 8: the policy file is reloaded on SIGHUP and on change (child process)', () => {
  let dir: string;
  let child: ChildProcessWithoutNullStreams | undefined;
  const stdout: Record<string, unknown>[] = [];
  const stderr: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];

  afterEach(() => {
    child?.kill('SIGTERM');
    child = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function collect(stream: NodeJS.ReadableStream, into: Record<string, unknown>[]): void {
    createInterface({ input: stream }).on('line', (line) => {
      try {
        into.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        into.push({ text: line });
      }
      for (const w of waiters.splice(0)) w();
    });
  }

  /** Wait until `lines` holds an entry matching `pred` (bounded by the test timeout). */
  async function until<T>(
    lines: Record<string, unknown>[],
    pred: (l: Record<string, unknown>) => boolean,
  ): Promise<Record<string, unknown>> {
    for (;;) {
      const hit = lines.find(pred);
      if (hit) return hit;
      await new Promise<void>((r) => waiters.push(r));
    }
  }

  async function startChild(): Promise<{ url: string; file: string }> {
    dir = mkdtempSync(join(tmpdir(), 'bridge-policy-'));
    const file = join(dir, 'policy.json');
    stdout.length = 0;
    stderr.length = 0;
    child = spawn(process.execPath, ['test/support/policy-reload-child.ts', file], { stdio: ['pipe', 'pipe', 'pipe'] });
    collect(child.stdout, stdout);
    collect(child.stderr, stderr);
    const ready = await until(stdout, (l) => typeof l.url === 'string');
    return { url: ready.url as string, file };
  }

  const reloads = (outcome: string) => stderr.filter((l) => l.type === 'policy_reload' && l.outcome === outcome).length;

  it('issue 9 item 8: SIGHUP applies a new deny list without a restart; a bad file then keeps it and logs why', async () => {
    const { url, file } = await startChild();
    expect((await exchangeGcp(url)).status).toBe(200);
    const policy = JSON.parse(readFileSync(file, 'utf8')) as SandboxPolicy;
    // Written where the watcher sees it too; SIGHUP is what applies it first or, at worst, finds it applied.
    writeFileSync(file, JSON.stringify({ ...policy, deny: { principals: { gcp: [gcpPrincipal(policy)] } } }));
    child!.kill('SIGHUP');
    await until(stderr, (l) => l.type === 'policy_reload' && l.outcome === 'applied');
    const denied = await exchangeGcp(url);
    expect(denied.status).toBe(400);
    await until(stdout, (l) => l.reason === 'denied_by_operator');

    writeFileSync(file, 'version: 2\nrules: [');
    child!.kill('SIGHUP');
    const refused = await until(stderr, (l) => l.type === 'policy_reload' && l.outcome === 'refused');
    expect(refused.problems).toEqual([expect.stringMatching(/not valid YAML\/JSON/)]);
    expect(refused.kept).toBe('the policy in force');
    // Still the deny list of the last good file, and the process is still serving.
    expect((await exchangeGcp(url)).status).toBe(400);
    expect(reloads('applied')).toBe(1);
  });

  it('issue 9 item 8: a change to the file is applied without a signal; a schema error keeps the old policy', async () => {
    const { url, file } = await startChild();
    const policy = JSON.parse(readFileSync(file, 'utf8')) as SandboxPolicy;
    writeFileSync(file, JSON.stringify({ ...policy, deny: { principals: { gcp: [gcpPrincipal(policy)] } } }));
    await until(stderr, (l) => l.type === 'policy_reload' && l.trigger === 'change' && l.outcome === 'applied');
    expect((await exchangeGcp(url)).status).toBe(400);

    writeFileSync(file, JSON.stringify({ ...policy, deny: { agents: ['not-a-guid'] } }));
    const refused = await until(
      stderr,
      (l) => l.type === 'policy_reload' && l.trigger === 'change' && l.outcome === 'refused',
    );
    expect(refused.problems).toEqual([expect.stringMatching(/policy\.deny\.agents\.0: must be a GUID/)]);
    expect((await exchangeGcp(url)).status).toBe(400);

    writeFileSync(file, JSON.stringify(policy));
    await until(
      stderr,
      (l) =>
        l.type === 'policy_reload' &&
        l.trigger === 'change' &&
        l.outcome === 'applied' &&
        (l.deny as { principals: number }).principals === 0,
    );
    expect((await exchangeGcp(url)).status).toBe(200);
  });
});
