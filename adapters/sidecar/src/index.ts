/**
 * @agent-id-bridge/sidecar: Microsoft's Entra Auth SDK sidecar API ("Microsoft Entra SDK for
 * AgentID") without a secret. Agents written for Microsoft's sidecar (the Microsoft 365 Agents SDK
 * with AuthType=EntraAuthSideCar, or any client of its HTTP API) get agent tokens from
 * agent-id-bridge, proven with the platform's own identity. docs/sidecar.md describes it.
 *
 * @example
 * AGENT_ID_BRIDGE_URL=https://bridge.example.com npx agent-id-bridge-sidecar
 */
import { readFileSync } from 'node:fs';
import { loadSidecarConfig, SidecarConfigError, USAGE, type SidecarConfig } from './config.ts';
import { createProof, describeProof } from './proof.ts';
import { createSidecarHandler, listenSidecar, type LogLine, type RunningSidecar, type SidecarDeps } from './server.ts';

export { loadSidecarConfig, parseListen, SidecarConfigError, type SidecarConfig } from './config.ts';
export { detectProof, parseProofSpec, type ProofSpec } from './proof.ts';
export { normaliseScopes, parseQuery, planExchange, type ExchangePlan, type SidecarQuery } from './request.ts';
export {
  createSidecarHandler,
  isLoopbackAddress,
  listenSidecar,
  type LogLine,
  type RunningSidecar,
  type SidecarDeps,
  type SidecarRequest,
  type SidecarResponse,
} from './server.ts';
export { SidecarProblem, type ProblemBody, type ProblemCode } from './problem.ts';

/** Starts the sidecar for a configuration: the proof source it names, then the listener. */
export async function startSidecar(config: SidecarConfig, deps: Partial<SidecarDeps> = {}): Promise<RunningSidecar> {
  const proof = deps.proof ?? (await createProof(config.proof, config.audience));
  return listenSidecar(config, createSidecarHandler(config, { ...deps, proof }));
}

/** One JSON line on standard error per event: never a token, a query string or a user name. */
function logLine(line: LogLine): void {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...line })}\n`);
}

function readSystemFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The `agent-id-bridge-sidecar` command. Resolves once it listens; stops on SIGINT / SIGTERM. */
export async function main(
  argv: readonly string[],
  env: Record<string, string | undefined> = process.env,
): Promise<RunningSidecar | undefined> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return undefined;
  }
  let config: SidecarConfig;
  try {
    config = loadSidecarConfig(env, argv, { readSystemFile });
  } catch (e) {
    if (!(e instanceof SidecarConfigError)) throw e;
    process.stderr.write(`agent-id-bridge-sidecar: ${e.message}\n`);
    process.exitCode = 2;
    return undefined;
  }
  for (const ignored of config.ignored) logLine({ msg: 'ignored Microsoft sidecar setting', setting: ignored });
  const running = await startSidecar(config, { log: logLine });
  logLine({
    msg: 'listening',
    url: running.url,
    bridge: config.bridgeUrl,
    proof: describeProof(config.proof),
    proof_chosen_by: config.proofBecause,
    callers: config.allowNonLoopbackCallers ? 'any' : 'loopback',
  });
  const stop = () => {
    void running.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return running;
}
