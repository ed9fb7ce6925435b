/**
 * Policy file text → a compiled policy, or every problem with its path. Shared by start-up
 * (./config.ts), the reload of the kill switch (src/policy/reload.ts) and `agent-id-bridge policy
 * check` (src/cli/), so all three accept and refuse exactly the same files.
 */
import { isScalar, parseDocument } from 'yaml';
import { compilePolicy, PolicyError, type CompiledPolicy, type PlatformRuleChecks } from '../policy/policy.ts';
import type { PlatformModule } from '../verify/contract.ts';
import { policyFileSchema, type PlatformsConfig, type PolicyFile } from './schema.ts';

export interface ParsedPolicy {
  policy: CompiledPolicy | undefined;
  /** The validated file (before compilation); present when the schema accepted it. */
  file: PolicyFile | undefined;
  platforms: PlatformsConfig;
  problems: string[];
}

export function parsePolicyText(
  text: string,
  source: string,
  platforms: readonly PlatformModule[],
  runtime: { allowInsecureLoopback: boolean },
): ParsedPolicy {
  const problems: string[] = [];
  const none = { policy: undefined, file: undefined, platforms: {}, problems };
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    problems.push(`${source}: not valid YAML/JSON (${doc.errors[0]!.message.split('\n')[0]})`);
    return none;
  }
  const raw: unknown = doc.toJS();
  const parsed = policyFileSchema(platforms).safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
      problems.push(
        `${source}: ${['policy', ...path.map(String)].join('.')}: ${numberWhereStringHint(doc, path) ?? issue.message}`,
      );
    }
    return none;
  }
  let policy: CompiledPolicy | undefined;
  try {
    policy = compilePolicy(parsed.data, registryRuleChecks(platforms, parsed.data.platforms));
  } catch (e) {
    if (e instanceof PolicyError) problems.push(`${source}: ${e.message}`);
    else throw e;
  }
  for (const platform of platforms) {
    const section = parsed.data.platforms[platform.name];
    if (section !== undefined && platform.problems)
      problems.push(...platform.problems(section, runtime).map((p) => `${source}: ${p}`));
  }
  return {
    policy: problems.length === 0 ? policy : undefined,
    file: parsed.data,
    platforms: parsed.data.platforms,
    problems,
  };
}

/** The registry's load-time checks of each rule, each platform given its own section of the policy. */
export function registryRuleChecks(
  platforms: readonly PlatformModule[],
  sections: PlatformsConfig,
): PlatformRuleChecks {
  const moduleOf = (name: string) => platforms.find((p) => p.name === name);
  return {
    isAttribute: (platform, name, rule) => moduleOf(platform)?.isAttribute(name, sections[platform], rule) === true,
    ruleProblems: (platform, rule) => moduleOf(platform)?.ruleProblems?.(rule, sections[platform]) ?? [],
  };
}

/**
 * A YAML scalar that reads as a number where the schema wants a string is nearly always an id left
 * unquoted (an AWS account id, a GCP service account id): YAML drops its leading zeros or rounds it
 * beyond 2^53 (https://yaml.org/spec/1.2.2/#1032-tag-resolution), so the message shows what was
 * written and what YAML made of it.
 */
function numberWhereStringHint(
  doc: ReturnType<typeof parseDocument>,
  path: readonly (string | number)[],
): string | undefined {
  const node = doc.getIn(path, true);
  if (!isScalar(node) || typeof node.value !== 'number') return undefined;
  const written = typeof node.source === 'string' ? node.source : String(node.value);
  const read = String(node.value);
  const changed = written === read ? '' : ` (YAML read ${written} as the number ${read})`;
  return `must be a string: quote numeric ids such as account numbers, e.g. "${written}"${changed}`;
}
