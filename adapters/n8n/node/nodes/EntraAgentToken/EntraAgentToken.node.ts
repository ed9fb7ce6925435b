import type {
  ICredentialsDecrypted,
  ICredentialTestFunctions,
  IDataObject,
  IExecuteFunctions,
  INodeCredentialTestResult,
  INodeExecutionData,
  INodeType,
  INodeTypeDescription,
} from 'n8n-workflow';
import { NodeApiError, NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';

import { signAssertion } from './assertion';
import type { InstanceKey } from './assertion';
import { requestAgentToken } from './bridge';
import type { Mode } from './bridge';
import { cacheKey, getCachedToken, hashSecret, putCachedToken } from './cache';
import type { CachedToken } from './cache';
import { checkCredentialFields, testCredential } from './credentialTest';
import type { Probe } from './credentialTest';
import { fieldNames, looksLikeCompactJwt, looksLikeUnresolvedExpression } from './parameters';

const DEFAULT_TIMEOUT_MS = 10_000;
const MODES: readonly Mode[] = ['autonomous', 'agentUser', 'onBehalfOf'];

interface Credential {
  bridgeUrl: string;
  instanceId: string;
  key: InstanceKey;
  projectId: string | undefined;
}

/** n8n's execution modes are lower-case words (WorkflowExecuteModeList in n8n-workflow). */
const EXECUTION_MODE = /^[a-z][A-Za-z]{0,31}$/;

export class EntraAgentToken implements INodeType {
  description: INodeTypeDescription = {
    displayName: 'Entra Agent Token',
    name: 'entraAgentToken',
    icon: { light: 'file:../../icons/entraAgentToken.svg', dark: 'file:../../icons/entraAgentToken.dark.svg' },
    group: ['transform'],
    version: [1],
    // Display names, as in the Mode list: the stored values (autonomous, onBehalfOf) mean little on the canvas.
    subtitle:
      '={{ ({ autonomous: "Autonomous Agent", agentUser: "Agent User", onBehalfOf: "On Behalf Of User" })[$parameter["mode"]] + ": " + $parameter["resource"] }}',
    description:
      'Get a Microsoft Entra agent identity token from agent-id-bridge, proving this n8n instance with its key',
    defaults: {
      name: 'Entra Agent Token',
    },
    inputs: [NodeConnectionTypes.Main],
    outputs: [NodeConnectionTypes.Main],
    // Deliberately not an AI tool: a tool's output (here, an access token) lands in the model's context.
    usableAsTool: undefined,
    credentials: [
      {
        name: 'entraAgentTokenApi',
        required: true,
        testedBy: 'entraAgentTokenApiTest',
      },
    ],
    properties: [
      {
        displayName:
          "The bridge authorizes this workflow by its ID, the last part of the workflow URL (…/workflow/{workflow ID}): its policy needs a rule for n8n:{Instance ID}:workflow:{workflow ID}. Anyone who can use this credential can create a workflow with an unused ID, so ask for rules that also require the credential's Project ID or the execution mode (see the node's README).",
        name: 'workflowIdNotice',
        type: 'notice',
        default: '',
      },
      {
        displayName: 'Mode',
        name: 'mode',
        type: 'options',
        noDataExpression: true,
        options: [
          {
            name: 'Autonomous Agent',
            value: 'autonomous',
            description: 'The agent acts on its own (app-only token)',
          },
          {
            name: 'Agent User',
            value: 'agentUser',
            description: "The agent acts as its own user account (the agent user's token)",
          },
          {
            name: 'On Behalf Of User',
            value: 'onBehalfOf',
            description: 'The agent acts for a signed-in user whose access token you pass in',
          },
        ],
        default: 'autonomous',
      },
      {
        displayName: 'Resource',
        name: 'resource',
        type: 'string',
        default: 'https://graph.microsoft.com',
        required: true,
        placeholder: 'https://graph.microsoft.com',
        description: 'The API the token is for, as the bridge policy names it',
      },
      {
        displayName: 'Agent ID',
        name: 'agentId',
        type: 'string',
        default: '',
        placeholder: '00000000-0000-0000-0000-000000000000',
        description:
          'Client ID of the agent identity to act as. Leave empty when the bridge policy maps this workflow to exactly one agent.',
      },
      {
        displayName: 'Agent User',
        name: 'agentUser',
        type: 'string',
        default: '',
        required: true,
        placeholder: 'agent@contoso.com',
        description: "UPN or object ID of the agent's user account",
        displayOptions: { show: { mode: ['agentUser'] } },
      },
      {
        displayName: 'User Access Token',
        name: 'userToken',
        type: 'string',
        typeOptions: { password: true },
        // An expression from the start, like n8n's own fields that map input data: typed text in this
        // masked field would be invisible, and "{{ … }}" typed in Fixed mode is sent as it is.
        default: '={{ $json.userToken }}',
        required: true,
        description:
          "The signed-in user's Entra access token for the agent blueprint, mapped from the input item with an expression",
        hint: "An expression, e.g. {{ $json.userToken }} for the input item's userToken field (keep the field in Expression mode)",
        displayOptions: { show: { mode: ['onBehalfOf'] } },
      },
      {
        displayName: 'Options',
        name: 'options',
        type: 'collection',
        placeholder: 'Add Option',
        default: {},
        options: [
          {
            displayName: 'Cache Tokens',
            name: 'cacheTokens',
            type: 'boolean',
            default: true,
            description:
              'Whether to reuse a token from memory until shortly before it expires instead of asking the bridge again',
          },
          {
            displayName: 'Scopes',
            name: 'scope',
            type: 'string',
            default: '',
            placeholder: 'https://graph.microsoft.com/User.Read',
            description:
              'Space-separated scopes to request instead of the resource default (delegated scopes in on-behalf-of and agent user modes)',
          },
          {
            displayName: 'Timeout',
            name: 'timeout',
            type: 'number',
            typeOptions: { minValue: 1000 },
            default: DEFAULT_TIMEOUT_MS,
            description: 'How long to wait for the bridge, in milliseconds',
          },
        ],
      },
    ],
  };

  methods = {
    credentialTest: {
      // The credential's Test button: local checks, then a dry run at the bridge (credentialTest.ts).
      async entraAgentTokenApiTest(
        this: ICredentialTestFunctions,
        credential: ICredentialsDecrypted,
      ): Promise<INodeCredentialTestResult> {
        return await testCredential(credential.data ?? {}, legacyRequestProbe(this));
      },
    },
  };

  async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
    const items = this.getInputData();
    const results: INodeExecutionData[] = [];
    let credential: Credential | undefined;
    const workflow = this.getWorkflow();
    const workflowId = typeof workflow.id === 'string' ? workflow.id : '';

    for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
      try {
        credential ??= await loadCredential(this, itemIndex);
        requireSavedWorkflow(this, workflowId, itemIndex);
        const request = readItemParameters(this, itemIndex);
        validateForMode(this, request, items[itemIndex]!, itemIndex);
        const now = Math.floor(Date.now() / 1000);
        const { token, fromCache } = await cachedOrExchange(
          this,
          credential,
          { id: workflowId, name: workflow.name },
          request,
          now,
          itemIndex,
        );
        results.push({ json: toOutput(token, request, fromCache, now), pairedItem: { item: itemIndex } });
      } catch (error) {
        if (this.continueOnFail()) {
          results.push({
            json: { error: error instanceof Error ? error.message : String(error) },
            pairedItem: { item: itemIndex },
          });
          continue;
        }
        throw asNodeError(this, error, itemIndex);
      }
    }
    return [results];
  }
}

/** What one input item asks for, read from the node's parameters (expressions resolved per item). */
interface ItemRequest {
  mode: Mode;
  resource: string;
  agentId: string;
  agentUser: string | undefined;
  userToken: string | undefined;
  scope: string | undefined;
  cacheTokens: boolean;
  timeoutMs: number;
}

function requireSavedWorkflow(ctx: IExecuteFunctions, workflowId: string, itemIndex: number): void {
  if (workflowId === '') {
    throw new NodeOperationError(ctx.getNode(), 'This workflow has no ID yet', {
      description: 'Save the workflow first: the bridge policy identifies workflows by their ID.',
      itemIndex,
    });
  }
}

function readItemParameters(ctx: IExecuteFunctions, itemIndex: number): ItemRequest {
  const mode = ctx.getNodeParameter('mode', itemIndex) as Mode;
  if (!MODES.includes(mode)) {
    throw new NodeOperationError(ctx.getNode(), `Unknown mode "${String(mode)}"`, { itemIndex });
  }
  const resource = text(ctx.getNodeParameter('resource', itemIndex));
  const agentId = text(ctx.getNodeParameter('agentId', itemIndex, ''));
  const agentUser = mode === 'agentUser' ? text(ctx.getNodeParameter('agentUser', itemIndex, '')) : undefined;
  const userToken = mode === 'onBehalfOf' ? text(ctx.getNodeParameter('userToken', itemIndex, '')) : undefined;
  const options = ctx.getNodeParameter('options', itemIndex, {}) as {
    cacheTokens?: boolean;
    scope?: string;
    timeout?: number;
  };
  return {
    mode,
    resource,
    agentId,
    agentUser,
    userToken,
    scope: text(options.scope) || undefined,
    cacheTokens: options.cacheTokens !== false,
    timeoutMs: options.timeout ?? DEFAULT_TIMEOUT_MS,
  };
}

/**
 * The mode's own required field must hold a usable value before anything is sent: not empty, not an
 * expression n8n left unresolved, and for on-behalf-of something shaped like an access token.
 */
function validateForMode(
  ctx: IExecuteFunctions,
  request: ItemRequest,
  item: INodeExecutionData,
  itemIndex: number,
): void {
  for (const [label, value] of [
    ['Resource', request.resource],
    ['Agent ID', request.agentId],
    ['Agent User', request.agentUser],
    ['Scopes', request.scope],
  ] as const) {
    if (value !== undefined && looksLikeUnresolvedExpression(value))
      throw unresolved(ctx, label, '{{ $json.field }}', itemIndex);
  }
  if (request.mode === 'agentUser' && !request.agentUser) {
    throw new NodeOperationError(ctx.getNode(), 'Agent User is empty', {
      description: "Enter the agent user's UPN or object ID.",
      itemIndex,
    });
  }
  if (request.mode !== 'onBehalfOf') return;
  const token = request.userToken ?? '';
  if (token === '') {
    throw new NodeOperationError(ctx.getNode(), 'User Access Token is empty', {
      description: `The field resolved to nothing for item ${itemIndex}. Map the signed-in user's access token, e.g. {{ $json.userToken }}, with the field name of the input item (n8n expressions are case-sensitive: $json, not $JSON). This item's fields: ${fieldNames(item.json)}.`,
      itemIndex,
    });
  }
  if (looksLikeUnresolvedExpression(token))
    throw unresolved(ctx, 'User Access Token', '{{ $json.userToken }}', itemIndex);
  if (!looksLikeCompactJwt(token)) {
    throw new NodeOperationError(ctx.getNode(), 'User Access Token is not an access token', {
      description:
        "Microsoft Entra access tokens are JWTs: three base64url parts separated by dots. Map the signed-in user's access token for the agent blueprint into this field (not an ID token's claims, a code or a refresh token).",
      itemIndex,
    });
  }
}

/** The field holds the text of an expression: nothing was sent, and the fix is in the editor. */
function unresolved(ctx: IExecuteFunctions, label: string, example: string, itemIndex: number): NodeOperationError {
  return new NodeOperationError(ctx.getNode(), `${label} holds an unresolved expression`, {
    description: `The value starts with "=" or contains "{{ … }}", so n8n did not evaluate it (the field is in Fixed mode, or the expression was pasted as text). Switch ${label} to Expression (hover the field, choose Expression) and enter e.g. ${example}. Nothing was sent to the bridge.`,
    itemIndex,
  });
}

/** A cached token for exactly this request, or a fresh one from the bridge (then cached). */
async function cachedOrExchange(
  ctx: IExecuteFunctions,
  credential: Credential,
  workflow: { id: string; name: unknown },
  request: ItemRequest,
  now: number,
  itemIndex: number,
): Promise<{ token: CachedToken; fromCache: boolean }> {
  const { mode, resource, scope, agentId, agentUser, userToken } = request;
  const executionMode = executionModeOf(ctx);
  // Project and execution mode are claims a rule may require: a token granted for one is not for another.
  const key = cacheKey([
    credential.bridgeUrl,
    credential.instanceId,
    credential.key.kid,
    credential.projectId,
    workflow.id,
    executionMode,
    mode,
    resource,
    scope,
    agentId,
    agentUser,
    hashSecret(userToken),
  ]);
  const cached = request.cacheTokens ? getCachedToken(key, now) : undefined;
  if (cached) return { token: cached, fromCache: true };

  const assertion = signAssertion(credential.key, {
    instanceId: credential.instanceId,
    workflowId: workflow.id,
    audience: `${credential.bridgeUrl}/token`,
    now,
    ...(credential.projectId ? { projectId: credential.projectId } : {}),
    ...(executionMode ? { executionMode } : {}),
    context: {
      executionId: ctx.getExecutionId(),
      workflowName: typeof workflow.name === 'string' ? workflow.name : undefined,
      nodeName: ctx.getNode().name,
    },
  });
  const issued = await requestAgentToken(
    ctx,
    { mode, assertion, resource, scope, agentId: agentId || undefined, agentUser, userToken },
    {
      bridgeUrl: credential.bridgeUrl,
      instanceId: credential.instanceId,
      workflowId: workflow.id,
      kid: credential.key.kid,
      itemIndex,
    },
    request.timeoutMs,
  );
  const token: CachedToken = {
    accessToken: issued.accessToken,
    expiresAt: now + issued.expiresIn,
    scope: issued.scope,
    agentId: issued.agentId,
  };
  if (request.cacheTokens) putCachedToken(key, token, now);
  return { token, fromCache: false };
}

function toOutput(token: CachedToken, request: ItemRequest, fromCache: boolean, now: number): IDataObject {
  return {
    accessToken: token.accessToken,
    tokenType: 'Bearer',
    expiresIn: Math.max(0, token.expiresAt - now),
    expiresAt: new Date(token.expiresAt * 1000).toISOString(),
    agentId: token.agentId,
    scope: token.scope,
    mode: request.mode,
    resource: request.resource,
    fromCache,
  };
}

/** What n8n says about how this execution runs (manual, trigger, webhook…); anything else is left out. */
function executionModeOf(ctx: IExecuteFunctions): string | undefined {
  const mode: unknown = ctx.getMode();
  return typeof mode === 'string' && EXECUTION_MODE.test(mode) ? mode : undefined;
}

/** Expressions may resolve to anything; parameters here are strings. */
function text(value: unknown): string {
  return typeof value === 'string' ? value.trim() : value === undefined || value === null ? '' : String(value).trim();
}

async function loadCredential(ctx: IExecuteFunctions, itemIndex: number): Promise<Credential> {
  const raw = await ctx.getCredentials<{ bridgeUrl?: string; instanceId?: string; privateKey?: string }>(
    'entraAgentTokenApi',
    itemIndex,
  );
  const checked = checkCredentialFields(raw);
  if ('problem' in checked) {
    throw new NodeOperationError(ctx.getNode(), `The credential's ${checked.field} is unusable: ${checked.problem}`, {
      description:
        'Open the Entra Agent Token API credential, fix the field and press Test: it checks the key and asks the bridge whether it knows the instance and key.',
      itemIndex,
    });
  }
  return checked;
}

/**
 * The Test button's HTTP call. In n8n 2.40 a credential test function gets only the legacy request
 * helper (ICredentialTestFunctions in n8n-workflow's interfaces.d.ts), which goes through n8n's own
 * proxy and SSRF settings like every other request of n8n: it is used here, never redirected.
 */
function legacyRequestProbe(ctx: ICredentialTestFunctions): Probe {
  return async (url, form, timeoutMs) => {
    const response = (await ctx.helpers.request({
      method: 'POST',
      uri: url,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form,
      resolveWithFullResponse: true,
      simple: false,
      followRedirect: false,
      followAllRedirects: false,
      timeout: timeoutMs,
    })) as { statusCode?: number; body?: unknown; headers?: Record<string, unknown> };
    return { statusCode: response.statusCode ?? 0, body: response.body, headers: response.headers ?? {} };
  };
}

/** n8n shows NodeApiError/NodeOperationError with their descriptions; anything else gets wrapped. */
function asNodeError(ctx: IExecuteFunctions, error: unknown, itemIndex: number): NodeApiError | NodeOperationError {
  if (error instanceof NodeApiError || error instanceof NodeOperationError) return error;
  return new NodeOperationError(ctx.getNode(), error instanceof Error ? error : String(error), { itemIndex });
}
