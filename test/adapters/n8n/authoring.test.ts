/**
 * The node as a workflow author meets it (issue 14 items 2, 3 and 5): fields that cannot be misused,
 * the workflow identity made visible and pinnable to a project, and links and builds that point at
 * what the package ships. Run in the n8n execution context of n8n-context.ts against the sandbox.
 */
import { readFileSync } from 'node:fs';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isN8nAttribute, n8nWorkloadFromClaims } from '../../../adapters/n8n/claims.ts';
import type { AuditEvent } from '../../../src/audit/audit.ts';
import { sandboxWorkflowId } from '../../../sandbox/platforms/n8n.ts';
import { startSandbox, type Sandbox } from '../../../sandbox/sandbox.ts';
import { SANDBOX } from '../../../sandbox/tenant.ts';
import {
  executionOf,
  loadNodePackage,
  NodeOperationError,
  type ContextOptions,
  type HttpCall,
  type ICredentialType,
  type INodeParameters,
  type INodeType,
  type NodePackage,
} from './n8n-context.ts';

const PROJECT = 'ProjFinance00001';
const OTHER_PROJECT = 'ProjMarketing001';
const NODE_DIR = new URL('../../../adapters/n8n/node/', import.meta.url);

let sb: Sandbox;
let pkg: NodePackage;
let nodeType: INodeType;
let credentialType: ICredentialType;
let m: { instanceId: string; workflowId: string; privateJwk: Record<string, string>; kid: string };
const audit: AuditEvent[] = [];

beforeAll(async () => {
  [sb, pkg] = await Promise.all([
    startSandbox({
      port: 0,
      audit: (e) => audit.push(e),
      policy: (p) => {
        // The sandbox workflow, pinned to one n8n project; a second rule requires a triggered run.
        const rule = p.rules.find((r) => r.name === 'sandbox-n8n-workflow')!;
        rule.attributes = { ...(rule.attributes as object), project_id: PROJECT };
        p.rules.push({
          name: 'triggered-only',
          platform: 'n8n',
          principal: `${String(rule.principal).replace(/:workflow:.*$/, ':workflow:')}TriggeredOnly0001`,
          attributes: { execution_mode: { regex: 'trigger|webhook' } },
          agent: SANDBOX.agentId,
          resources: [SANDBOX.graph],
        });
        return p;
      },
    }),
    loadNodePackage(),
  ]);
  nodeType = new pkg.EntraAgentToken();
  credentialType = new pkg.EntraAgentTokenApi();
  m = sb.manifest.n8n as typeof m;
});
afterAll(() => sb?.close());
beforeEach(() => pkg.clearTokenCache());

function execution(parameters: INodeParameters, over: Partial<ContextOptions> = {}, projectId: string = PROJECT) {
  return executionOf({
    nodeType,
    credentialType,
    parameters,
    credentials: { bridgeUrl: sb.url, instanceId: m.instanceId, privateKey: JSON.stringify(m.privateJwk), projectId },
    workflow: { id: m.workflowId, name: 'Mailbox triage', active: true },
    ...over,
  });
}

async function refusal(
  parameters: INodeParameters,
  over: Partial<ContextOptions> = {},
  projectId?: string,
): Promise<Error & { description?: string }> {
  try {
    await execution(parameters, over, projectId).run();
  } catch (e) {
    return e as Error & { description?: string };
  }
  throw new Error('expected the node to throw');
}

const property = (name: string) => nodeType.description.properties.find((p) => p.name === name)!;

describe('issue 14 item 2: fields an author cannot misuse', () => {
  it('issue 14 item 2: the User Access Token hint is {{ $json.userToken }}, and the field starts as that expression', () => {
    const field = property('userToken');
    expect(field.hint).toContain('{{ $json.userToken }}');
    expect(`${field.hint} ${field.description}`).not.toMatch(/\$JSON/);
    expect(field.default).toBe('={{ $json.userToken }}');
    expect(field.typeOptions?.password).toBe(true);
  });

  it('issue 14 item 2: with the default expression, the user token is read from the input item', async () => {
    const human = (
      sb.manifest.entra as { humanUser: { username: string; password: string; clientId: string; scope: string } }
    ).humanUser;
    const userToken = await sb.entra.signInUser(SANDBOX.tenantId, human);
    const http: HttpCall[] = [];
    // No userToken parameter set: the field's default expression applies.
    const [[item]] = (await execution(
      { mode: 'onBehalfOf', options: { scope: `${SANDBOX.graph}/User.Read` } },
      { http, items: [{ json: { userToken } }] },
    ).run()) as [[{ json: Record<string, unknown> }]];
    expect(decodeJwt(String(item.json.accessToken))).toMatchObject({ idtyp: 'user', oid: SANDBOX.humanUser.oid });
    expect(new URLSearchParams(String(http[0]!.options.body)).get('subject_token')).toBe(userToken);
  });

  it('issue 14 item 2: "{{ $json.userToken }}" typed in Fixed mode is an unresolved expression; nothing is sent', async () => {
    const http: HttpCall[] = [];
    for (const typed of ['{{ $json.userToken }}', '={{ $json.userToken }}', 'Bearer {{ $json.userToken }}']) {
      // What reaches the node when n8n did not evaluate the text (the context resolves only "=…" values).
      const e = await refusal(
        { mode: 'onBehalfOf', userToken: typed.startsWith('=') ? `=${typed}` : typed },
        { http, items: [{ json: { userToken: 'x' } }] },
      );
      expect(e).toBeInstanceOf(NodeOperationError);
      expect(e.message).toBe('User Access Token holds an unresolved expression');
      expect(e.description).toMatch(/Switch User Access Token to Expression .* Nothing was sent to the bridge\.$/);
    }
    expect(http).toHaveLength(0);
  });

  it('issue 14 item 2: an unresolved expression in Resource is caught the same way', async () => {
    const e = await refusal({ mode: 'autonomous', resource: '{{ $json.resource }}' });
    expect(e.message).toBe('Resource holds an unresolved expression');
  });

  it("issue 14 item 2: an expression that resolves to nothing names the input item's fields (a typo is visible)", async () => {
    const e = await refusal(
      { mode: 'onBehalfOf', userToken: '={{ $json.usertoken }}' },
      { items: [{ json: { userToken: 'eyJ.x.y', upn: 'someone@contoso.com' } }] },
    );
    expect(e.message).toBe('User Access Token is empty');
    expect(e.description).toContain("This item's fields: userToken, upn.");
    expect(e.description).toContain('case-sensitive: $json, not $JSON');
    expect(e.description).not.toContain('eyJ.x.y');
  });

  it('issue 14 item 2: a value that is no JWT is refused before it reaches Entra', async () => {
    const http: HttpCall[] = [];
    const e = await refusal({ mode: 'onBehalfOf', userToken: 'not-a-token' }, { http });
    expect(e.message).toBe('User Access Token is not an access token');
    expect(http).toHaveLength(0);
  });

  it('issue 14 item 2: Entra rejecting a well-formed token is "Microsoft Entra rejected the user token", not an expression problem', async () => {
    const bogus = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLW5vdC12YWxpZA';
    const e = await refusal({ mode: 'onBehalfOf', userToken: bogus });
    expect(e.message).toBe('Microsoft Entra rejected the user token');
    expect(e.description).toMatch(/^The token reached Entra and Entra refused it/);
    expect(JSON.stringify({ m: e.message, d: e.description })).not.toContain('c2lnbmF0dXJlLW5vdC12YWxpZA');
  });

  it('issue 14 item 2: the canvas subtitle shows display names, not raw mode values', () => {
    const subtitle = String(nodeType.description.subtitle);
    const body = /^=\{\{([\s\S]*)\}\}$/.exec(subtitle)![1]!;
    const render = new Function('$parameter', `return ${body};`) as (p: Record<string, string>) => string;
    const names = Object.fromEntries(
      (property('mode').options ?? []).map((o) => ['value' in o ? String(o.value) : '', o.name]),
    );
    for (const [value, name] of Object.entries(names))
      expect(render({ mode: value, resource: SANDBOX.graph })).toBe(`${name}: ${SANDBOX.graph}`);
    expect(render({ mode: 'autonomous', resource: 'x' })).toBe('Autonomous Agent: x');
  });
});

describe('issue 14 item 3: the workflow identity, visible and pinned to a project', () => {
  it('issue 14 item 5: no text the editor shows has an <placeholder> that n8n, rendering it as HTML, would drop', () => {
    // n8n renders a parameter's displayName, description, hint and notices as HTML: "<ID>" is an unknown
    // tag and disappears (seen in the real editor: "a rule for n8n::workflow:."). Placeholders use {…}.
    const shown = [...nodeType.description.properties, ...credentialType.properties].flatMap((p) =>
      [p.displayName, p.description, p.hint].filter((t): t is string => typeof t === 'string'),
    );
    expect(shown.length).toBeGreaterThan(5);
    const allowedTags = /^<\/?(a|b|i|code|br|strong|em)( [^>]*)?\/?>$/;
    const tags = shown.flatMap((t) => t.match(/<[^<>]+>/g) ?? []).filter((tag) => !allowedTags.test(tag));
    expect(tags).toEqual([]);
  });

  it('issue 14 item 3: the node shows a notice that the bridge authorizes the workflow by its id, and where to read it', () => {
    const notice = nodeType.description.properties[0]!;
    expect(notice.type).toBe('notice');
    expect(notice.displayName).toMatch(/authorizes this workflow by its ID, the last part of the workflow URL/);
    expect(notice.displayName).toMatch(/n8n:\{Instance ID\}:workflow:\{workflow ID\}/);
    expect(notice.displayName).toMatch(/Project ID or the execution mode/);
  });

  it("issue 14 item 3: the assertion carries the credential's project_id and n8n's execution_mode, which the bridge makes attributes", async () => {
    const http: HttpCall[] = [];
    await execution({ mode: 'autonomous' }, { http }).run();
    const claims = decodeJwt(new URLSearchParams(String(http[0]!.options.body)).get('subject_token')!);
    expect(claims).toMatchObject({ project_id: PROJECT, execution_mode: 'manual' });
    expect(audit.findLast((e) => e.platform === 'n8n' && e.outcome === 'issued')?.attributes).toEqual({
      instance_id: m.instanceId,
      workflow_id: m.workflowId,
      project_id: PROJECT,
      execution_mode: 'manual',
    });
  });

  it('issue 14 item 3: a rule pinned to a project refuses the same workflow id from another project', async () => {
    const mine = await execution({ mode: 'autonomous' }).run();
    expect(mine[0]![0]!.json.agentId).toBe(SANDBOX.agentId);
    const squatter = await refusal({ mode: 'autonomous' }, {}, OTHER_PROJECT);
    expect(squatter.message).toBe(`No bridge policy rule allows workflow ${m.workflowId} of instance ${m.instanceId}`);
    expect(audit.findLast((e) => e.platform === 'n8n')).toMatchObject({
      outcome: 'denied',
      reason: 'no_rule_matches',
      principal: `n8n:${m.instanceId}:workflow:${m.workflowId}`,
      attributes: { project_id: OTHER_PROJECT },
    });
    // A credential without a Project ID cannot satisfy the pinned rule either.
    const unpinned = await refusal({ mode: 'autonomous' }, {}, '');
    expect(unpinned.message).toMatch(/^No bridge policy rule allows workflow/);
  });

  it('issue 14 item 3: a rule that requires a triggered run refuses a manual run of the same workflow', async () => {
    const e = await refusal({ mode: 'autonomous' }, { workflow: { id: 'TriggeredOnly0001', name: 'x', active: true } });
    expect(e.message).toBe(`No bridge policy rule allows workflow TriggeredOnly0001 of instance ${m.instanceId}`);
    expect(audit.findLast((x) => x.platform === 'n8n')?.attributes).toMatchObject({ execution_mode: 'manual' });
  });

  it('issue 14 item 3: project_id and execution_mode are n8n attributes; malformed values are refused, never dropped', () => {
    expect(['instance_id', 'workflow_id', 'project_id', 'execution_mode'].every(isN8nAttribute)).toBe(true);
    expect(isN8nAttribute('workflow_name')).toBe(false);
    const base = { sub: 'n8n:i1:workflow:W1', jti: 'j' };
    expect(n8nWorkloadFromClaims({ ...base, project_id: 'P 1' }, 'i1')).toMatchObject({
      ok: false,
      reason: 'proof_claim',
    });
    expect(n8nWorkloadFromClaims({ ...base, execution_mode: 42 }, 'i1')).toMatchObject({
      ok: false,
      reason: 'proof_claim',
    });
    expect(n8nWorkloadFromClaims(base, 'i1')).toMatchObject({
      ok: true,
      value: { attributes: { instance_id: 'i1', workflow_id: 'W1' } },
    });
  });

  it('issue 14 item 3: a malformed Project ID in the credential is named by the Test button and the node', async () => {
    const e = await refusal({ mode: 'autonomous' }, {}, 'not a project id');
    expect(e.message).toMatch(/^The credential's Project ID is unusable: it must be the project's ID as in its URL/);
  });

  it('issue 14 item 3: the sandbox takes its workflow id from SANDBOX_N8N_WORKFLOW_ID', async () => {
    expect(sandboxWorkflowId({})).toBe('SbxAgentWorkflow');
    expect(sandboxWorkflowId({ SANDBOX_N8N_WORKFLOW_ID: ' Qm3xT8vL2pN6rS1w ' })).toBe('Qm3xT8vL2pN6rS1w');
    expect(() => sandboxWorkflowId({ SANDBOX_N8N_WORKFLOW_ID: '../x' })).toThrow(/^SANDBOX_N8N_WORKFLOW_ID: must be/);
    const own = await startSandbox({ port: 0, audit: () => {}, env: { SANDBOX_N8N_WORKFLOW_ID: 'Qm3xT8vL2pN6rS1w' } });
    try {
      expect(own.manifest.n8n).toMatchObject({
        workflowId: 'Qm3xT8vL2pN6rS1w',
        principal: 'n8n:sandbox-n8n:workflow:Qm3xT8vL2pN6rS1w',
      });
    } finally {
      await own.close();
    }
  });
});

describe('issue 14 item 5: links, tooltips and stack traces point at what the package ships', () => {
  const README = 'https://github.com/agent-id-bridge/agent-id-bridge/blob/main/adapters/n8n/node/README.md';

  it("issue 14 item 5: both documentation links go to the node's own README", () => {
    expect(credentialType.documentationUrl).toBe(README);
    const codex = JSON.parse(
      readFileSync(new URL('nodes/EntraAgentToken/EntraAgentToken.node.json', NODE_DIR), 'utf8'),
    ) as { resources: Record<string, { url: string }[]> };
    expect(codex.resources.primaryDocumentation).toEqual([{ url: README }]);
    expect(codex.resources.credentialDocumentation).toEqual([{ url: README }]);
  });

  it('issue 14 item 5: the key tooltip says where npm run n8n:keygen lives', () => {
    const key = credentialType.properties.find((p) => p.name === 'privateKey')!;
    expect(key.description).toMatch(
      /"npm run n8n:keygen" in a checkout of the agent-id-bridge repository \(not in n8n\)/,
    );
  });

  it("issue 14 item 5: the README's links work on npm and in n8n: absolute, and the register link has the steps", () => {
    const readme = readFileSync(new URL('README.md', NODE_DIR), 'utf8');
    const links = [...readme.matchAll(/\]\(([^)]+)\)/g)].map((l) => l[1]!);
    expect(links.filter((l) => !/^(https:\/\/|#)/.test(l))).toEqual([]);
    expect(links).toContain(
      'https://github.com/agent-id-bridge/agent-id-bridge/blob/main/docs/platforms/n8n.md#register-an-instance-step-by-step',
    );
    const docs = readFileSync(new URL('../../../docs/platforms/n8n.md', import.meta.url), 'utf8');
    expect(docs).toMatch(/^## Register an instance, step by step$/m);
  });

  it('issue 14 item 5: the build emits no source maps, so stack traces name the shipped .js files', () => {
    const tsconfig = JSON.parse(readFileSync(new URL('tsconfig.json', NODE_DIR), 'utf8')) as {
      compilerOptions: Record<string, unknown>;
    };
    expect(tsconfig.compilerOptions.sourceMap).toBe(false);
    expect(tsconfig.compilerOptions.inlineSourceMap).not.toBe(true);
    expect(tsconfig.compilerOptions.declarationMap).not.toBe(true);
  });
});
