/**
 * `agent-id-bridge policy explain <file> --proof <file|->`: the policy's decision for a proof's
 * claims, offline: no Entra, no network, no key fetch. A JWT is decoded WITHOUT verifying it (the
 * output says so first); a claims JSON ({platform, principal, issuer?, attributes?}) names the
 * workload directly (the way to ask about AWS signed requests, whose principal only STS knows).
 */
import { decodeJwt } from 'jose';
import { parsePolicyText } from '../config/policy-file.ts';
import { CLOCK_SKEW_SEC } from '../constants.ts';
import { ModeSchema, type Mode } from '../config/schema.ts';
import { deniedAgent, deniedWorkload, EMPTY_DENY_LIST } from '../policy/deny.ts';
import { evaluatePolicy } from '../policy/policy.ts';
import { loadPlatforms } from './platforms.ts';
import { isRecord } from '../util/is-record.ts';
import type { PlatformModule, VerifiedWorkload } from '../verify/contract.ts';
import { EXIT, stringOption, UsageError, type Command } from './command.ts';
import { readInput } from './read-input.ts';

const UNVERIFIED_BANNER = [
  '!! UNVERIFIED PROOF: decoded offline; its signature, audience, issuer keys and replay were NOT checked.',
  '!! This is what the policy would decide IF the proof is genuine. Only the bridge (POST /explain) verifies.',
].join('\n');

const COMPACT_JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export const policyExplainCommand: Command = {
  words: ['policy', 'explain'],
  summary: "trace the policy's decision for a proof's claims, offline",
  help: `usage: agent-id-bridge policy explain <policy-file> --proof <file|-> [--resource R] [--mode M]
                                   [--agent ID] [--agent-user U] [--now TIME] [--sandbox]

Offline: no Entra, no network. The proof is either
  - a JWT (GCP ID token, n8n assertion): decoded WITHOUT verification, and the output says so; or
  - a claims JSON naming the workload: {"platform": "aws", "principal": "arn:aws:iam::123456789012:role/x",
    "issuer": "...", "attributes": {"account": "123456789012"}} (the way to ask about AWS signed
    requests, whose principal only STS can tell), or a JWT's decoded payload ({"iss": ..., "sub": ...}).
The deny list is applied, then the rules, as the bridge does; the trace names the deciding rule.

Options:
  --proof F        the proof or claims (- for stdin)                          (required)
  --resource R     the resource asked for                     (default https://graph.microsoft.com)
  --mode M         autonomous | obo | agent_user                                (default autonomous)
  --agent ID       the agent identity asked for (the audience parameter)
  --agent-user U   the agent user (agent_user mode)
  --now TIME       the time to judge exp/nbf against: ISO 8601 or unix seconds  (default now)
  --sandbox        allow the sandbox's loopback http URLs in the policy
  -h, --help       this text

Exit: 0 allowed, 1 refused, 2 usage, unreadable or undecodable input.`,
  options: {
    proof: { type: 'string' },
    resource: { type: 'string' },
    mode: { type: 'string' },
    agent: { type: 'string' },
    'agent-user': { type: 'string' },
    now: { type: 'string' },
    sandbox: { type: 'boolean' },
  },
  async run(args, io) {
    const [file, ...extra] = args.positionals;
    const proofPath = stringOption(args, 'proof');
    if (file === undefined || extra.length > 0) throw new UsageError('name one policy file');
    if (proofPath === undefined) throw new UsageError('--proof <file|-> is required');
    const mode = ModeSchema.safeParse(stringOption(args, 'mode') ?? 'autonomous');
    if (!mode.success) throw new UsageError('--mode must be autonomous, obo or agent_user');
    const now = parseNow(stringOption(args, 'now'));

    const platforms = await loadPlatforms();
    const parsed = parsePolicyText(await readInput(file, io, 'policy file'), file, platforms, {
      allowInsecureLoopback: args.values.sandbox === true,
    });
    if (!parsed.policy) {
      io.err(
        `${file}: invalid policy (run agent-id-bridge policy check ${file}):\n${parsed.problems.map((p) => `  ${p}\n`).join('')}`,
      );
      return EXIT.usage;
    }
    const proof = (await readInput(proofPath, io, 'proof')).trim();
    const { workload, unverified, expiry } = workloadOf(proof, platforms, parsed.platforms, now);
    if (unverified) io.out(`${UNVERIFIED_BANNER}\n`);
    io.out(
      `workload: platform ${workload.platform}, issuer ${workload.issuer || '(none given)'}, principal ${workload.principal}\n`,
    );
    const attrs = Object.entries(workload.attributes);
    if (attrs.length > 0) io.out(`attributes: ${attrs.map(([k, v]) => `${k}=${v}`).join(', ')}\n`);
    const request = {
      resource: stringOption(args, 'resource') ?? 'https://graph.microsoft.com',
      mode: mode.data as Mode,
      agent: stringOption(args, 'agent'),
      agentUser: stringOption(args, 'agent-user'),
    };
    io.out(
      `request: resource ${request.resource}, mode ${request.mode}${request.agent ? `, agent ${request.agent}` : ''}${request.agentUser ? `, agent user ${request.agentUser}` : ''}\n`,
    );
    io.out(`time: ${new Date(now * 1000).toISOString()}${expiry ? `; ${expiry.text}` : ''}\n`);
    if (expiry?.refused) {
      io.out(`decision: REFUSED (${expiry.reason}): the bridge refuses the proof before the policy is asked\n`);
      return EXIT.no;
    }

    const deny = parsed.policy.deny ?? EMPTY_DENY_LIST;
    const deniedBy = deniedWorkload([deny], workload);
    if (deniedBy) {
      io.out(
        `decision: REFUSED (denied_by_operator): on deny.${deniedBy}; the caller is told only that no rule allows it\n`,
      );
      return EXIT.no;
    }
    const decision = evaluatePolicy(
      parsed.policy,
      workload,
      {
        resource: request.resource,
        mode: request.mode,
        ...(request.agent !== undefined ? { agent: request.agent } : {}),
        ...(request.agentUser !== undefined ? { agentUser: request.agentUser } : {}),
      },
      { explain: true },
    );
    io.out(`trace:\n${(decision.trace ?? []).map((t) => `  - ${t}\n`).join('')}`);
    if (decision.allowed && deniedAgent([deny], decision.agent.agentId)) {
      io.out(
        `decision: REFUSED (denied_by_operator): agent ${decision.agent.agentId} is on deny.agents; the caller is told only that no rule allows it\n`,
      );
      return EXIT.no;
    }
    if (!decision.allowed) {
      io.out(
        `decision: REFUSED (${decision.reason}): ${decision.detail}${decision.rule ? ` (rule ${decision.rule})` : ''}\n`,
      );
      return EXIT.no;
    }
    const a = decision.agent;
    io.out(
      `decision: ALLOWED by rule ${decision.rule.name}: agent ${a.agentId}${a.agentName ? ` (${a.agentName})` : ''}, tenant ${a.tenantId}, blueprint ${a.blueprintId}, FIC subject ${a.ficSubject}\n`,
    );
    return EXIT.ok;
  },
};

function parseNow(value: string | undefined): number {
  if (value === undefined) return Math.floor(Date.now() / 1000);
  if (/^[0-9]{1,12}$/.test(value)) return Number(value);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new UsageError(`--now ${value}: not an ISO 8601 time or unix seconds`);
  return Math.floor(ms / 1000);
}

interface Expiry {
  text: string;
  refused: boolean;
  reason?: string;
}

function workloadOf(
  proof: string,
  registry: readonly PlatformModule[],
  platformsConfig: Readonly<Record<string, unknown>>,
  now: number,
): { workload: VerifiedWorkload; unverified: boolean; expiry: Expiry | undefined } {
  let claims: Record<string, unknown>;
  let unverified = false;
  if (COMPACT_JWT.test(proof)) {
    try {
      claims = decodeJwt(proof) as Record<string, unknown>;
    } catch (e) {
      throw new UsageError(`the proof is not a decodable JWT (${(e as Error).message})`);
    }
    unverified = true;
  } else {
    let raw: unknown;
    try {
      raw = JSON.parse(proof);
    } catch {
      throw new UsageError(
        'the proof is neither a JWT nor JSON claims; for an AWS signed request give {"platform": "aws", "principal": "<role ARN>", "attributes": {...}}',
      );
    }
    if (!isRecord(raw)) throw new UsageError('the claims JSON must be an object');
    claims = raw;
  }
  if (typeof claims.platform === 'string' && typeof claims.principal === 'string') {
    const platform = registry.find((p) => p.name === claims.platform);
    if (!platform)
      throw new UsageError(`platform "${claims.platform}" is not one of ${registry.map((p) => p.name).join(', ')}`);
    const attributes = isRecord(claims.attributes)
      ? Object.fromEntries(Object.entries(claims.attributes).map(([k, v]) => [k, String(v)]))
      : {};
    const issuer = typeof claims.issuer === 'string' ? claims.issuer : '';
    return {
      workload: {
        platform: platform.name as VerifiedWorkload['platform'],
        proofKind: 'claims',
        issuer,
        principal: claims.principal,
        attributes,
        expiresAt: now + 1,
      },
      unverified,
      expiry: undefined,
    };
  }
  for (const platform of registry) {
    const config = platformsConfig[platform.name];
    if (config === undefined || !platform.workloadFromUnverifiedClaims) continue;
    const result = platform.workloadFromUnverifiedClaims(claims, config);
    if (result === undefined) continue;
    if (!result.ok)
      throw new UsageError(
        `the ${platform.name} platform would refuse these claims (${result.reason}): ${result.detail}`,
      );
    const issuer = typeof claims.iss === 'string' ? claims.iss : '';
    const exp = typeof claims.exp === 'number' ? claims.exp : undefined;
    return {
      workload: {
        platform: platform.name as VerifiedWorkload['platform'],
        proofKind: 'unverified-jwt',
        issuer,
        principal: result.value.principal,
        attributes: result.value.attributes,
        expiresAt: exp ?? now,
      },
      unverified: true,
      expiry: expiryOf(claims, now),
    };
  }
  const iss = typeof claims.iss === 'string' ? claims.iss : 'none';
  throw new UsageError(
    `no platform enabled in this policy reads claims with iss ${JSON.stringify(iss)} offline; give a claims JSON {"platform", "principal", "attributes"} instead`,
  );
}

/** exp and nbf judged at `now` with the bridge's skew (src/constants.ts CLOCK_SKEW_SEC). */
function expiryOf(claims: Record<string, unknown>, now: number): Expiry | undefined {
  const exp = typeof claims.exp === 'number' ? claims.exp : undefined;
  const nbf = typeof claims.nbf === 'number' ? claims.nbf : undefined;
  if (exp !== undefined && exp + CLOCK_SKEW_SEC <= now)
    return {
      text: `the proof expired at ${new Date(exp * 1000).toISOString()}`,
      refused: true,
      reason: 'proof_expired',
    };
  if (nbf !== undefined && nbf - CLOCK_SKEW_SEC > now)
    return {
      text: `the proof is not valid before ${new Date(nbf * 1000).toISOString()}`,
      refused: true,
      reason: 'proof_not_yet_valid',
    };
  return exp === undefined
    ? undefined
    : { text: `the proof is valid until ${new Date(exp * 1000).toISOString()}`, refused: false };
}
