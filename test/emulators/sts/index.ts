/**
 * AWS STS emulator on loopback: GetCallerIdentity and GetWebIdentityToken over the query protocol,
 * really verifying SigV4 with the emulated credentials (./sigv4-verify.ts), plus each account's
 * outbound identity federation issuer (discovery + JWKS) under /issuers/<id>.
 *
 * Which STS host a request is for: the `Host` header, or `X-Forwarded-Host` when the bridge
 * forwards a proof here (fetch cannot set Host; the bridge sends it only with the sandbox-only
 * stsEndpointOverride). sts.amazonaws.com is the global endpoint (scope us-east-1),
 * sts.<region>.amazonaws.com[.cn] a regional one, and the emulator's own loopback address the
 * regional endpoint of `region` — which is what an AWS SDK client pointed at `url` talks to.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { DEFAULT_ACCOUNTS, DEFAULT_CREDENTIALS, type EmulatedAccount, type EmulatedCredential } from './model.ts';
import { errorAnswer, resultAnswer, STS_ERRORS, wantsJson, type Answer, type StsError } from './responses.ts';
import { verifySigV4, type IncomingStsRequest } from './sigv4-verify.ts';
import { EmulatedIssuer, type WebIdentityAlg, type WebIdentityTokenParams } from './web-identity.ts';

export {
  DEFAULT_CREDENTIALS,
  SANDBOX_ACCOUNT,
  SANDBOX_ROLE_ARN,
  SANDBOX_ROLE_NAME,
  SANDBOX_SESSION_NAME,
} from './model.ts';
export type { EmulatedCredential } from './model.ts';

/** Fault injection for the STS API (the issuer documents are not affected). */
export type StsFault =
  | { kind: 'delay'; ms: number }
  | { kind: 'error'; status: number; code: string; message: string }
  /** Close the connection without an answer. */
  | { kind: 'drop' }
  /** Answer with a redirect, as something in front of an endpoint might (STS itself never does). */
  | { kind: 'redirect'; status: 301 | 302 | 307 | 308; location: string };

export interface StsCall {
  action: string;
  host: string;
  status: number;
  /** The STS error code, when there was one. */
  code?: string;
}

/** An STS API request exactly as it reached the emulator, for comparison with what was signed. */
export interface ReceivedStsRequest {
  method: string;
  /** Path and query as on the request line. */
  target: string;
  /** Every header as received, in order, names lower-cased. */
  headers: readonly (readonly [string, string])[];
  body: string;
}

export interface StsEmulator {
  /** http://127.0.0.1:<port>: where an AWS SDK client reaches the emulator (`endpoint`). */
  readonly url: string;
  /** The region of the emulator's own address. */
  readonly region: string;
  readonly credentials: Readonly<Record<keyof typeof DEFAULT_CREDENTIALS, EmulatedCredential>>;
  /** Issuer URL of an account's outbound identity federation. */
  issuerOf(accountId: string): string;
  issuer(accountId: string): EmulatedIssuer;
  /** Every STS API request served, oldest first. */
  readonly calls: readonly StsCall[];
  /** Every STS API request received, oldest first, as it arrived on the wire. */
  readonly requests: readonly ReceivedStsRequest[];
  /** How many requests for `action` were served (all actions when omitted). */
  count(action?: string): number;
  resetCalls(): void;
  setFault(fault: StsFault | undefined): void;
  /** Mint a web identity token directly (tests: hostile and edge-case tokens). */
  mintWebIdentityToken(
    p: Partial<Omit<WebIdentityTokenParams, 'credential'>> & {
      credential?: EmulatedCredential;
      audiences: readonly string[];
    },
  ): Promise<string>;
  close(): Promise<void>;
}

export interface StsEmulatorOptions {
  /** Region of the emulator's loopback address (default us-east-1). */
  region?: string;
  /** Seconds since the epoch. */
  clock?: () => number;
  accounts?: EmulatedAccount[];
}

const DEFAULT_DURATION_SEC = 300;

export async function startStsEmulator(opts: StsEmulatorOptions = {}, port = 0): Promise<StsEmulator> {
  const clock = opts.clock ?? (() => Math.floor(Date.now() / 1000));
  const region = opts.region ?? 'us-east-1';
  const accounts = opts.accounts ?? DEFAULT_ACCOUNTS;
  const credentials = structuredClone(DEFAULT_CREDENTIALS);
  const byKey = new Map<string, EmulatedCredential>(Object.values(credentials).map((c) => [c.accessKeyId, c]));
  const calls: StsCall[] = [];
  const requests: ReceivedStsRequest[] = [];
  let fault: StsFault | undefined;

  const app = new Hono<{ Bindings: { incoming: IncomingMessage } }>();
  const issuers = new Map<string, EmulatedIssuer>();
  const base = { url: '' };

  app.get('/issuers/:id/.well-known/openid-configuration', (c) => {
    const i = [...issuers.values()].find((x) => x.account.issuerId === c.req.param('id'));
    if (!i) return c.text('Not Found\n', 404);
    i.discoveryHits++;
    c.header('cache-control', 'max-age=3600');
    return c.json(i.discovery());
  });
  app.get('/issuers/:id/.well-known/jwks.json', (c) => {
    const i = [...issuers.values()].find((x) => x.account.issuerId === c.req.param('id'));
    if (!i) return c.text('Not Found\n', 404);
    i.jwksHits++;
    c.header('cache-control', 'max-age=3600');
    return c.json(i.jwks());
  });

  app.on(['GET', 'POST'], '/', async (c) => {
    const host = (c.req.header('x-forwarded-host') ?? c.req.header('host') ?? '').toLowerCase();
    const body = c.req.method === 'POST' ? await c.req.text() : '';
    const raw = c.env.incoming.rawHeaders;
    const received: [string, string][] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) received.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
    requests.push({ method: c.req.method, target: c.env.incoming.url ?? '', headers: received, body });
    const query = new URL(c.req.url).searchParams;
    const params = new URLSearchParams(query);
    if (/^application\/x-www-form-urlencoded/i.test(c.req.header('content-type') ?? ''))
      for (const [k, v] of new URLSearchParams(body)) params.append(k, v);
    const action = params.get('Action') ?? '';
    const json = wantsJson(c.req.header('accept'));
    const record = (a: Answer) => {
      const code =
        a.status === 200 ? undefined : /<Code>([^<]+)<\/Code>|"Code":"([^"]+)"/.exec(a.body)?.slice(1).find(Boolean);
      calls.push({ action, host, status: a.status, ...(code ? { code } : {}) });
      return c.body(a.body, a.status as 200, { 'content-type': a.contentType, 'x-amzn-requestid': randomUUID() });
    };

    if (fault?.kind === 'delay')
      await new Promise((r) => setTimeout(r, fault && fault.kind === 'delay' ? fault.ms : 0));
    if (fault?.kind === 'drop') {
      calls.push({ action, host, status: 0 });
      c.env.incoming.socket.destroy();
      return new Response(null);
    }
    if (fault?.kind === 'redirect') {
      calls.push({ action, host, status: fault.status });
      return c.body(null, fault.status, { location: fault.location });
    }
    if (fault?.kind === 'error')
      return record(
        errorAnswer(
          {
            status: fault.status,
            code: fault.code,
            message: fault.message,
            type: fault.status >= 500 ? 'Receiver' : 'Sender',
          },
          json,
        ),
      );

    const endpoint = endpointOf(host, base.url, region);
    if (!endpoint)
      return record(
        errorAnswer(
          { status: 400, code: 'InvalidEndpoint', message: `not an STS endpoint: ${host}`, type: 'Sender' },
          json,
        ),
      );
    const req: IncomingStsRequest = {
      method: c.req.method,
      host,
      path: new URL(c.req.url).pathname,
      query,
      headers: new Map(Object.entries(c.req.header()).map(([k, v]) => [k.toLowerCase(), v])),
      body,
    };
    const auth = await verifySigV4(req, { expectedRegion: endpoint.region, now: clock(), lookup: (k) => byKey.get(k) });
    if (!auth.ok) return record(errorAnswer(auth.error, json));
    const cred = auth.credential;

    switch (action) {
      case 'GetCallerIdentity':
        return record(
          resultAnswer('GetCallerIdentity', { Arn: cred.arn, UserId: cred.userId, Account: cred.account }, json),
        );
      case 'GetWebIdentityToken': {
        if (endpoint.global)
          return record(
            errorAnswer(
              STS_ERRORS.invalidAction(
                'GetWebIdentityToken is not available on the STS global endpoint; call a regional endpoint.',
              ),
              json,
            ),
          );
        const issued = await getWebIdentityToken(params, cred, endpoint.region);
        if ('error' in issued) return record(errorAnswer(issued.error, json));
        return record(
          resultAnswer('GetWebIdentityToken', { WebIdentityToken: issued.token, Expiration: issued.expiration }, json),
        );
      }
      default:
        return record(
          errorAnswer(
            STS_ERRORS.invalidAction(`Could not find operation ${action.slice(0, 64)} for version 2011-06-15`),
            json,
          ),
        );
    }
  });
  app.notFound((c) => c.text('Not Found\n', 404));

  async function getWebIdentityToken(
    params: URLSearchParams,
    cred: EmulatedCredential,
    callRegion: string,
  ): Promise<{ token: string; expiration: string } | { error: StsError }> {
    const audiences: string[] = [];
    for (let n = 1; params.has(`Audience.member.${n}`); n++) audiences.push(params.get(`Audience.member.${n}`)!);
    if (audiences.length < 1 || audiences.length > 10 || audiences.some((a) => a.length < 1 || a.length > 1000)) {
      return {
        error: STS_ERRORS.validationError(
          "Value at 'audience' failed to satisfy constraint: Member must have length between 1 and 10, each 1 to 1000 characters",
        ),
      };
    }
    const alg = params.get('SigningAlgorithm');
    if (alg !== 'RS256' && alg !== 'ES384')
      return {
        error: STS_ERRORS.validationError(
          "Value at 'signingAlgorithm' failed to satisfy constraint: Member must be RS256 or ES384",
        ),
      };
    const duration = Number(params.get('DurationSeconds') ?? DEFAULT_DURATION_SEC);
    if (!Number.isInteger(duration) || duration < 60 || duration > 3600) {
      return {
        error: STS_ERRORS.validationError(
          "Value at 'durationSeconds' failed to satisfy constraint: Member must have value between 60 and 3600",
        ),
      };
    }
    const requestTags: Record<string, string> = {};
    for (let n = 1; params.has(`Tags.member.${n}.Key`); n++)
      requestTags[params.get(`Tags.member.${n}.Key`)!] = params.get(`Tags.member.${n}.Value`) ?? '';
    if (!cred.allowWebIdentityToken) return { error: STS_ERRORS.accessDenied(cred.arn, 'GetWebIdentityToken') };
    const issuer = issuers.get(cred.account);
    if (!issuer || !issuer.account.outboundFederation) return { error: STS_ERRORS.federationDisabled() };
    const iat = clock();
    const token = await issuer.mint({
      credential: cred,
      audiences,
      alg: alg as WebIdentityAlg,
      durationSec: duration,
      region: callRegion,
      iat,
      requestTags,
    });
    return { token, expiration: new Date((iat + duration) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') };
  }

  const { server, address } = await listen(app, port);
  base.url = `http://127.0.0.1:${address.port}`;
  for (const account of accounts)
    issuers.set(account.accountId, await EmulatedIssuer.create(account, `${base.url}/issuers/${account.issuerId}`));

  const issuerFor = (accountId: string) => {
    const i = issuers.get(accountId);
    if (!i) throw new Error(`no emulated account ${accountId}`);
    return i;
  };
  return {
    url: base.url,
    region,
    credentials,
    issuerOf: (accountId) => issuerFor(accountId).issuer,
    issuer: issuerFor,
    calls,
    requests,
    count: (action) => calls.filter((c) => action === undefined || c.action === action).length,
    resetCalls: () => {
      calls.length = 0;
      requests.length = 0;
    },
    setFault: (f) => {
      fault = f;
    },
    mintWebIdentityToken: async (p) => {
      const credential = p.credential ?? credentials.sandbox;
      return issuerFor(credential.account).mint({
        credential,
        audiences: p.audiences,
        alg: p.alg ?? 'RS256',
        durationSec: p.durationSec ?? DEFAULT_DURATION_SEC,
        region: p.region ?? region,
        iat: p.iat ?? clock(),
        ...(p.requestTags ? { requestTags: p.requestTags } : {}),
        ...(p.claims ? { claims: p.claims } : {}),
        ...(p.header ? { header: p.header } : {}),
      });
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** The STS endpoint a host names, and the credential-scope region it requires. */
function endpointOf(
  host: string,
  selfUrl: string,
  selfRegion: string,
): { region: string; global: boolean } | undefined {
  if (host === 'sts.amazonaws.com') return { region: 'us-east-1', global: true };
  const m = /^sts\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/.exec(host);
  if (m) return { region: m[1]!, global: false };
  if (host === new URL(selfUrl).host || host === `localhost:${new URL(selfUrl).port}`)
    return { region: selfRegion, global: false };
  return undefined;
}

async function listen(
  app: Hono<{ Bindings: { incoming: IncomingMessage } }>,
  port: number,
): Promise<{ server: Server; address: AddressInfo }> {
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, (address) =>
      resolve({ server, address }),
    ) as Server;
  });
}
