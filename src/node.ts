/**
 * Node entry: `npm start`. With configuration (any BRIDGE_* variable), runs the bridge as
 * configured. With none, starts the local sandbox (bridge + emulators on loopback) — and never
 * the other way round: a configured tenant is never mixed with the emulators (design.md §5).
 */
import { readFileSync } from 'node:fs';
import { serve, type ServerType } from '@hono/node-server';
import { isConfigured, loadConfig, ConfigError, type Config } from './config/config.ts';
import { buildApp, type RuntimePorts } from './compose.ts';
import { DEFAULT_PORT } from './constants.ts';
import { PLATFORMS } from './platforms.ts';
import { createMsalTransport } from './entra/transport-msal.ts';

export const nodePorts = (extra: Partial<RuntimePorts> = {}): RuntimePorts => ({ entraTransport: createMsalTransport, ...extra });

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Listen on host:port; the handler may be set after the port is known (the sandbox needs that). */
export async function listen(host: string, port: number, handler: (req: Request) => Response | Promise<Response>): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    let server: ServerType;
    try {
      server = serve({ fetch: handler, hostname: host, port }, (info) => {
        resolve({
          url: `http://${host.includes(':') ? `[${host}]` : host}:${info.port}`,
          port: info.port,
          close: () => new Promise((r) => server.close(() => r())),
        });
      });
      server.on('error', reject);
    } catch (e) {
      reject(e);
    }
  });
}

export async function startBridge(config: Config, ports: RuntimePorts = nodePorts()): Promise<RunningServer> {
  const { app } = await buildApp(config, ports);
  return listen(config.listen.host, config.listen.port, app.fetch);
}

async function main(): Promise<void> {
  if (!isConfigured(process.env)) {
    const sandboxModule = '../sandbox/sandbox.ts';
    let sandbox: typeof import('../sandbox/sandbox.ts');
    try {
      sandbox = await import(sandboxModule);
    } catch {
      console.error('agent-id-bridge: no configuration (BRIDGE_ISSUER, BRIDGE_SIGNING_KEY, BRIDGE_POLICY_FILE) and no sandbox in this build.');
      process.exit(2);
    }
    const port = Number(process.env.PORT ?? DEFAULT_PORT);
    const running = await sandbox.startSandbox({ port, env: process.env });
    console.log(sandbox.banner(running));
    const stop = () => void running.close().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    return;
  }
  let config: Config;
  try {
    config = loadConfig(process.env, { platforms: PLATFORMS, readFile: (p) => readFileSync(p, 'utf8') });
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`agent-id-bridge: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  const server = await startBridge(config);
  console.log(`agent-id-bridge listening on ${server.url} as issuer ${config.issuer}`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (import.meta.main) {
  main().catch((e: unknown) => {
    console.error(`agent-id-bridge: failed to start: ${(e as Error).message}`);
    process.exit(1);
  });
}
