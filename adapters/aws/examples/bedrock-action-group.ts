/**
 * Example: a Bedrock Agents action-group Lambda that calls Microsoft Graph as its Entra agent
 * identity, with no secret anywhere on AWS. The Lambda's execution role is the workload identity:
 * the client helper proves it to agent-id-bridge and gets an app-only agent token for Graph.
 *
 * Setup (docs/platforms/aws.md has the details):
 * 1. Action group defined with function details: function `getUserProfile`, one required string
 *    parameter `userPrincipalName`.
 * 2. Lambda on a Node.js 20+ runtime, this file bundled with its imports, as ESM or CommonJS
 *    (docs/clients.md, "Bundling for Lambda", has the esbuild commands), or deployed with
 *    `npm install @agent-id-bridge/aws` beside it.
 *    Environment: BRIDGE_URL (the bridge), optional BRIDGE_AUDIENCE (default BRIDGE_URL),
 *    optional AGENT_ID (when the policy allows several agents), optional BRIDGE_PROOF
 *    (`get-caller-identity`, the default, or `web-identity-token`).
 * 3. Execution role: nothing extra for `get-caller-identity`; for `web-identity-token`, allow
 *    sts:GetWebIdentityToken with sts:IdentityTokenAudience = the bridge audience.
 * 4. Bridge policy: a rule with platform aws, principal arn:aws:iam::<account>:role/<role name>,
 *    the agent id, and resources [https://graph.microsoft.com]; the agent needs User.Read.All.
 *
 * The token source lives at module scope, so warm invocations reuse the cached agent token.
 * Every failure past the input check (bridge, Graph, network) becomes a Bedrock FAILURE response,
 * so the agent can tell the user instead of the invocation failing.
 */
import {
  BridgeExchangeError,
  createAwsAgentTokenSource,
  type AwsAgentTokenOptions,
  type AwsProofKind,
} from '@agent-id-bridge/aws';

/** The input event of an action group defined with function details (Bedrock user guide, agents-lambda). */
export interface BedrockFunctionEvent {
  messageVersion: string;
  actionGroup: string;
  function: string;
  parameters?: { name: string; type: string; value: string }[];
  sessionAttributes?: Record<string, string>;
  promptSessionAttributes?: Record<string, string>;
  agent?: { name: string; id: string; alias: string; version: string };
  sessionId?: string;
  inputText?: string;
}

export interface BedrockFunctionResult {
  messageVersion: '1.0';
  response: {
    actionGroup: string;
    function: string;
    functionResponse: { responseState?: 'FAILURE' | 'REPROMPT'; responseBody: { TEXT: { body: string } } };
  };
  sessionAttributes?: Record<string, string>;
  promptSessionAttributes?: Record<string, string>;
}

export interface ActionGroupOptions {
  agentTokens: Omit<AwsAgentTokenOptions, 'resource' | 'scope'>;
  /** Default https://graph.microsoft.com. */
  graphBaseUrl?: string;
  fetch?: typeof fetch;
}

const GRAPH = 'https://graph.microsoft.com';

export function createActionGroupHandler(
  opts: ActionGroupOptions,
): (event: BedrockFunctionEvent) => Promise<BedrockFunctionResult> {
  const agent = createAwsAgentTokenSource({ ...opts.agentTokens, resource: GRAPH });
  const graph = opts.graphBaseUrl ?? GRAPH;
  const fetchImpl = opts.fetch ?? fetch;

  return async (event) => {
    if (event.function !== 'getUserProfile')
      return reply(event, `This action group has no function ${event.function}.`, 'FAILURE');
    const upn = event.parameters?.find((p) => p.name === 'userPrincipalName')?.value;
    if (!upn) return reply(event, 'Which user? Give their user principal name, e.g. alice@contoso.com.', 'REPROMPT');

    let accessToken: string;
    try {
      ({ accessToken } = await agent.getToken());
    } catch (e) {
      // The bridge's answer names the problem without echoing any token; log it for the operator.
      console.error(e instanceof BridgeExchangeError ? e.message : `bridge exchange failed: ${(e as Error).name}`);
      return reply(event, 'I cannot reach the directory right now.', 'FAILURE');
    }
    try {
      const res = await fetchImpl(
        `${graph}/v1.0/users/${encodeURIComponent(upn)}?$select=displayName,jobTitle,department,mail`,
        {
          headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
        },
      );
      if (res.status === 404) return reply(event, `There is no user ${upn}.`);
      if (!res.ok) return reply(event, `The directory answered ${res.status}.`, 'FAILURE');
      const user = (await res.json()) as Record<string, unknown>;
      return reply(
        event,
        JSON.stringify({
          displayName: user.displayName,
          jobTitle: user.jobTitle,
          department: user.department,
          mail: user.mail,
        }),
      );
    } catch (e) {
      // A network failure or an unreadable answer from Graph: the agent gets a failure it can explain.
      console.error(`Graph call failed: ${(e as Error).name}`);
      return reply(event, 'The directory did not answer.', 'FAILURE');
    }
  };
}

function reply(
  event: BedrockFunctionEvent,
  body: string,
  responseState?: 'FAILURE' | 'REPROMPT',
): BedrockFunctionResult {
  return {
    messageVersion: '1.0',
    response: {
      actionGroup: event.actionGroup,
      function: event.function,
      functionResponse: { ...(responseState ? { responseState } : {}), responseBody: { TEXT: { body } } },
    },
    ...(event.sessionAttributes ? { sessionAttributes: event.sessionAttributes } : {}),
    ...(event.promptSessionAttributes ? { promptSessionAttributes: event.promptSessionAttributes } : {}),
  };
}

let fromEnvironment: ((event: BedrockFunctionEvent) => Promise<BedrockFunctionResult>) | undefined;

/** The Lambda entry point, configured from the environment on first use. */
export const handler = (event: BedrockFunctionEvent): Promise<BedrockFunctionResult> => {
  fromEnvironment ??= (() => {
    const bridgeUrl = process.env.BRIDGE_URL;
    if (!bridgeUrl) throw new Error('BRIDGE_URL is not set');
    return createActionGroupHandler({
      agentTokens: {
        bridgeUrl,
        audience: process.env.BRIDGE_AUDIENCE ?? bridgeUrl,
        proof: (process.env.BRIDGE_PROOF as AwsProofKind | undefined) ?? 'get-caller-identity',
        ...(process.env.AGENT_ID ? { agent: process.env.AGENT_ID } : {}),
      },
    });
  })();
  return fromEnvironment(event);
};
