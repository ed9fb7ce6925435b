/**
 * A realistic n8n execution context for the community node, typed by n8n's own interfaces.
 *
 * n8n-workflow lives in the test/support/n8n-runtime workspace's own node_modules (its peer zod@3
 * cannot sit beside the root's zod@4), so it is imported by path: its CommonJS build, which n8n itself
 * loads and which vitest.config.ts also maps the node's `import 'n8n-workflow'` to (one module
 * instance for both).
 * The node package is a separate CommonJS compilation unit (its own tsconfig, built by n8n-node), so
 * its sources are loaded at run time and typed here only through n8n's interfaces.
 *
 * What the context does the way n8n's ExecuteContext does: parameters are resolved with n8n's own
 * NodeHelpers.getNodeParameters (defaults, displayOptions) and `={{ $json.x }}` expressions are
 * resolved per item; credentials are handed out only to a node that declares them and that the
 * credential type supports (restrictToSupportedNodes); helpers.httpRequest follows the
 * IHttpRequestOptions the node uses (returnFullResponse, ignoreHttpStatusErrors, timeout, no
 * redirects) and, like axios, throws an error that carries the request when the status is an error.
 */
import {
  NodeHelpers,
  type ICredentialDataDecryptedObject,
  type ICredentialTestFunctions,
  type ICredentialType,
  type INodeCredentialTestResult,
  type IDataObject,
  type IExecuteFunctions,
  type IHttpRequestOptions,
  type INode,
  type INodeExecutionData,
  type INodeParameters,
  type INodeType,
  type IWorkflowMetadata,
} from '../../support/n8n-runtime/node_modules/n8n-workflow/dist/cjs/index.js';

export * from '../../support/n8n-runtime/node_modules/n8n-workflow/dist/cjs/index.js';

const NODE_PACKAGE = '../../../adapters/n8n/node/';

/** The credential test's own module (nodes/EntraAgentToken/credentialTest.ts), typed by what the tests use. */
export interface CredentialTestModule {
  checkCredentialFields(raw: Record<string, unknown>): { field: string; problem: string } | { instanceId: string };
  testCredential(
    raw: Record<string, unknown>,
    probe: (
      url: string,
      form: string,
      timeoutMs: number,
    ) => Promise<{ statusCode: number; body: unknown; headers: Record<string, unknown> }>,
    now?: () => number,
  ): Promise<INodeCredentialTestResult>;
  unreachable(bridgeUrl: string, e: unknown): string;
}

export interface NodePackage {
  EntraAgentToken: new () => INodeType;
  EntraAgentTokenApi: new () => ICredentialType;
  clearTokenCache(): void;
  credentialTest: CredentialTestModule;
}

/** The community node package's sources, loaded the way vitest loads any TypeScript. */
export async function loadNodePackage(): Promise<NodePackage> {
  const node = (await import(/* @vite-ignore */ `${NODE_PACKAGE}nodes/EntraAgentToken/EntraAgentToken.node.ts`)) as {
    EntraAgentToken: NodePackage['EntraAgentToken'];
  };
  const credential = (await import(
    /* @vite-ignore */ `${NODE_PACKAGE}credentials/EntraAgentTokenApi.credentials.ts`
  )) as { EntraAgentTokenApi: NodePackage['EntraAgentTokenApi'] };
  const cache = (await import(/* @vite-ignore */ `${NODE_PACKAGE}nodes/EntraAgentToken/cache.ts`)) as {
    clearTokenCache(): void;
  };
  const credentialTest = (await import(
    /* @vite-ignore */ `${NODE_PACKAGE}nodes/EntraAgentToken/credentialTest.ts`
  )) as CredentialTestModule;
  return {
    EntraAgentToken: node.EntraAgentToken,
    EntraAgentTokenApi: credential.EntraAgentTokenApi,
    clearTokenCache: cache.clearTokenCache,
    credentialTest,
  };
}

export interface HttpCall {
  options: IHttpRequestOptions;
  status: number;
}

export interface ContextOptions {
  nodeType: INodeType;
  credentialType: ICredentialType;
  /** The node as stored in the workflow: parameters as the user set them. */
  parameters: INodeParameters;
  credentials: ICredentialDataDecryptedObject;
  /** The node's type name as n8n registers it (package name + node name; CUSTOM.<name> for custom extensions). */
  nodeTypeName?: string;
  items?: INodeExecutionData[];
  workflow?: IWorkflowMetadata;
  executionId?: string;
  continueOnFail?: boolean;
  /** Record of every HTTP call the node made through helpers.httpRequest. */
  http?: HttpCall[];
}

/** `={{ $json.a.b }}`: the only expression form the tests use, resolved against the item like n8n does. */
function resolveExpression(value: unknown, item: INodeExecutionData): unknown {
  if (typeof value !== 'string' || !value.startsWith('=')) return value;
  const m = /^=\{\{\s*\$json\.([\w.]+)\s*\}\}$/.exec(value);
  if (!m) return value.slice(1);
  return m[1]!
    .split('.')
    .reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), item.json);
}

async function httpRequest(options: IHttpRequestOptions): Promise<unknown> {
  const url = new URL(options.url, options.baseURL);
  if (options.qs) for (const [k, v] of Object.entries(options.qs)) url.searchParams.set(k, String(v));
  const res = await fetch(url, {
    method: options.method ?? 'GET',
    headers: Object.fromEntries(Object.entries(options.headers ?? {}).map(([k, v]) => [k, String(v)])),
    body:
      typeof options.body === 'string'
        ? options.body
        : options.body === undefined
          ? null
          : JSON.stringify(options.body),
    redirect: options.disableFollowRedirect ? 'manual' : 'follow',
    signal: AbortSignal.timeout(options.timeout ?? 300_000),
  });
  const text = await res.text();
  let body: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json') && options.json !== false) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  const ignore = options.ignoreHttpStatusErrors === true;
  if (res.status >= 400 && !ignore) {
    // Like an AxiosError: it carries the request configuration, body included.
    throw Object.assign(new Error(`Request failed with status code ${res.status}`), {
      config: { ...options },
      response: { status: res.status, data: body },
    });
  }
  const headers = Object.fromEntries(res.headers.entries());
  return options.returnFullResponse ? { body, headers, statusCode: res.status, statusMessage: res.statusText } : body;
}

/**
 * The helper a credential test function gets (ICredentialTestFunctions: only `request`, n8n's legacy
 * request-promise options, proxied to axios by n8n-core's legacy-request-adapter). Like that
 * adapter: `simple: false` answers every status, `resolveWithFullResponse` gives status, headers
 * and body (JSON parsed, as axios does), `followRedirect: false` stops at a 3xx, and a failure to
 * connect throws an error whose cause carries Node's code (ECONNREFUSED...).
 */
export interface LegacyRequestCall {
  options: Record<string, unknown>;
}

export function credentialTestContext(calls: LegacyRequestCall[] = []): ICredentialTestFunctions {
  const request = async (uriOrObject: string | object, more?: object): Promise<unknown> => {
    const o = (typeof uriOrObject === 'string' ? { uri: uriOrObject, ...more } : uriOrObject) as Record<
      string,
      unknown
    >;
    calls.push({ options: o });
    const res = await fetch(String(o.uri ?? o.url), {
      method: String(o.method ?? 'GET'),
      headers: Object.fromEntries(
        Object.entries((o.headers ?? {}) as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
      ),
      body: typeof o.body === 'string' ? o.body : null,
      redirect: o.followRedirect === false ? 'manual' : 'follow',
      signal: AbortSignal.timeout(typeof o.timeout === 'number' ? o.timeout : 300_000),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    if (res.status >= 400 && o.simple !== false)
      throw Object.assign(new Error(`${res.status} - ${JSON.stringify(body)}`), { statusCode: res.status });
    const headers = Object.fromEntries(res.headers.entries());
    return o.resolveWithFullResponse ? { body, headers, statusCode: res.status, statusMessage: res.statusText } : body;
  };
  return { helpers: { request } } as unknown as ICredentialTestFunctions;
}

export interface Execution {
  context: IExecuteFunctions;
  node: INode;
  run(): Promise<INodeExecutionData[][]>;
}

export function executionOf(o: ContextOptions): Execution {
  const typeName = o.nodeTypeName ?? `n8n-nodes-entra-agent-token.${o.nodeType.description.name}`;
  const node: INode = {
    id: '5d2f8f3e-4a8b-4a4e-9b53-0c2d6a1e7f10',
    name: 'Entra Agent Token',
    type: typeName,
    typeVersion: 1,
    position: [480, 300],
    parameters: o.parameters,
    credentials: { [o.credentialType.name]: { id: 'cred-1', name: 'Bridge (test)' } },
    ...(o.continueOnFail ? { onError: 'continueRegularOutput' as const } : {}),
  };
  const resolved =
    NodeHelpers.getNodeParameters(
      o.nodeType.description.properties,
      node.parameters,
      true,
      false,
      node,
      o.nodeType.description,
    ) ?? {};
  const items = o.items ?? [{ json: {} }];
  const http = o.http ?? [];

  const basics = {
    getInputData: () => items,
    getNode: () => node,
    getWorkflow: () => o.workflow ?? { id: 'Wf7kP9qW3e4R5tYu', name: 'Nightly report', active: true },
    getExecutionId: () => o.executionId ?? '1042',
    getMode: () => 'manual' as const,
    getInstanceId: () => 'b9a2e6f4c3d1',
    getTimezone: () => 'UTC',
    continueOnFail: () => node.onError === 'continueRegularOutput' || node.onError === 'continueErrorOutput',
  } satisfies Pick<
    IExecuteFunctions,
    | 'getInputData'
    | 'getNode'
    | 'getWorkflow'
    | 'getExecutionId'
    | 'getMode'
    | 'getInstanceId'
    | 'getTimezone'
    | 'continueOnFail'
  >;
  const context = {
    ...basics,
    getNodeParameter(name: string, itemIndex: number, fallbackValue?: unknown) {
      const value = name
        .split('.')
        .reduce<unknown>((p, k) => (p && typeof p === 'object' ? (p as IDataObject)[k] : undefined), resolved);
      if (value === undefined) {
        if (arguments.length >= 3) return fallbackValue;
        throw new Error(`Could not get parameter "${name}"`);
      }
      const item = items[itemIndex] ?? { json: {} };
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveExpression(v, item)]));
      }
      return resolveExpression(value, item);
    },
    async getCredentials(type: string) {
      const declared =
        o.nodeType.description.credentials?.some((c) => c.name === type) === true &&
        node.credentials?.[type] !== undefined;
      if (!declared) throw new Error(`Node "${node.name}" does not have any credentials of type "${type}" set`);
      // The execution engine's guard for restrictToSupportedNodes (ICredentialsHelper.isCredentialUsableByNode).
      if (
        o.credentialType.restrictToSupportedNodes &&
        !(o.credentialType.supportedNodes ?? []).includes(typeName.split('.').pop()!)
      ) {
        throw new Error(`Credential type "${type}" cannot be used by node type "${typeName}"`);
      }
      return { ...o.credentials };
    },
    helpers: {
      async httpRequest(options: IHttpRequestOptions) {
        try {
          const result = await httpRequest(options);
          http.push({ options, status: (result as { statusCode?: number }).statusCode ?? 200 });
          return result;
        } catch (e) {
          http.push({ options, status: 0 });
          throw e;
        }
      },
    },
  };
  const ctx = context as unknown as IExecuteFunctions;
  return {
    context: ctx,
    node,
    run: () => (o.nodeType.execute as (this: IExecuteFunctions) => Promise<INodeExecutionData[][]>).call(ctx),
  };
}
