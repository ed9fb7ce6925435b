/**
 * `agent-id-bridge policy check` lints (docs/operations.md#operator-cli): things a valid policy may
 * still get wrong. Warnings, not errors: the bridge starts with them. Each names the rule path.
 * - a rule never chosen because an earlier rule allows everything it allows (evaluation takes the
 *   first allowing rule in file order, src/policy/policy.ts);
 * - a rule that can never allow because the deny list blocks its principal or agent;
 * - a pattern that can match across the ":" and "/" separators of structured principals (ARNs,
 *   n8n:<instance>:workflow:<id>), so it may match more segments than its author meant;
 * - ids that look mistyped: a GCP principal that is not the numeric id, an AWS account id that is
 *   not 12 digits (a leading zero lost to YAML's number parsing).
 */
import type { Matcher, PolicyFile, RuleInput } from '../config/schema.ts';
import { compileMatcher, matches } from './matcher.ts';

export interface LintWarning {
  path: string;
  message: string;
}

export function lintPolicy(file: PolicyFile): LintWarning[] {
  const warnings: LintWarning[] = [];
  const rules = file.rules;
  rules.forEach((rule, j) => {
    const at = `policy.rules[${j}]`;
    const earlier = rules.slice(0, j).findIndex((r) => ruleCovers(r, rule));
    if (earlier >= 0) {
      warnings.push({
        path: at,
        message: `rule "${rule.name}" is never chosen: rules[${earlier}] "${rules[earlier]!.name}" comes first and allows every workload, agent, resource, mode and agent user it allows`,
      });
    }
    if (typeof rule.principal === 'string' && (file.deny?.principals?.[rule.platform] ?? []).includes(rule.principal)) {
      warnings.push({
        path: `${at}.principal`,
        message: `rule "${rule.name}" can never allow: its principal is on deny.principals.${rule.platform}`,
      });
    }
    if ((file.deny?.agents ?? []).some((a) => a.toLowerCase() === rule.agent.toLowerCase())) {
      warnings.push({
        path: `${at}.agent`,
        message: `rule "${rule.name}" can never allow: its agent is on deny.agents`,
      });
    }
    for (const [path, m] of matchersOf(rule, at)) {
      const crossing = separatorCrossing(m);
      if (crossing) warnings.push({ path, message: crossing });
    }
    warnings.push(...idHints(rule, at));
  });
  return warnings;
}

function matchersOf(rule: RuleInput, at: string): [string, Matcher][] {
  const out: [string, Matcher][] = [[`${at}.principal`, rule.principal]];
  if (rule.issuer !== undefined) out.push([`${at}.issuer`, rule.issuer]);
  for (const [k, m] of Object.entries(rule.attributes ?? {})) out.push([`${at}.attributes.${k}`, m]);
  return out;
}

/** True when rule `a` allows at least everything `b` allows (a sound, conservative check). */
function ruleCovers(a: RuleInput, b: RuleInput): boolean {
  if (a.platform !== b.platform || a.agent.toLowerCase() !== b.agent.toLowerCase()) return false;
  if (!matcherCovers(a.principal, b.principal)) return false;
  if (a.issuer !== undefined && (b.issuer === undefined || !matcherCovers(a.issuer, b.issuer))) return false;
  for (const [k, m] of Object.entries(a.attributes ?? {})) {
    const other = b.attributes?.[k];
    if (other === undefined || !matcherCovers(m, other)) return false;
  }
  const aModes = new Set(a.modes ?? ['autonomous']);
  if (!b.resources.every((r) => a.resources.includes(r)) || !(b.modes ?? ['autonomous']).every((m) => aModes.has(m)))
    return false;
  const aUsers = new Set((a.agentUsers ?? []).map((u) => u.toLowerCase()));
  return (b.agentUsers ?? []).every((u) => aUsers.has(u.toLowerCase()));
}

const MATCHES_ANYTHING = new Set(['glob:**', 'regex:.*', 'regex:[\\s\\S]*']);

function matcherCovers(a: Matcher, b: Matcher): boolean {
  const ca = compileMatcher(a);
  const cb = compileMatcher(b);
  if (ca.kind === 'pattern' && MATCHES_ANYTHING.has(ca.source)) return true;
  if (cb.kind === 'exact') return matches(ca, cb.value);
  return ca.kind === 'pattern' && ca.source === cb.source;
}

/**
 * Where a pattern can consume ":" or "/": in a regex, an unescaped "." or a class that does not
 * exclude both (\S, \W, \D, [^…] without ":" and "/"); in a glob, "**" (any character) or "*"
 * (anything but "/") in a value whose literal parts contain ":".
 */
export function separatorCrossing(m: Matcher): string | undefined {
  if (typeof m === 'string') return undefined;
  if ('glob' in m) {
    if (m.glob.includes('**'))
      return `glob "${m.glob}": ** matches across ":" and "/"; use * (one "/" segment) or an exact value`;
    if (m.glob.includes('*') && m.glob.replace(/\*/g, '').includes(':'))
      return `glob "${m.glob}": * stops only at "/", so it also matches ":" and can span several ":"-separated fields; prefer a regex with [^:/]+ for one field`;
    return undefined;
  }
  const offender = regexWildcard(m.regex);
  return offender
    ? `regex "${m.regex}": ${offender} can match ":" or "/", so it may span several fields of a principal such as an ARN or n8n:<instance>:workflow:<id>; use [^:/] for one field`
    : undefined;
}

function regexWildcard(source: string): string | undefined {
  let inClass = false;
  let classStart = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') {
      const next = source[i + 1];
      if (!inClass && next !== undefined && 'SWD'.includes(next)) return `\\${next}`;
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']' && i > classStart + 1) {
        const body = source.slice(classStart + 1, i);
        if (body.startsWith('^') && !(body.includes(':') && body.includes('/'))) return `[${body}]`;
        inClass = false;
      }
      continue;
    }
    if (c === '[') {
      inClass = true;
      classStart = i;
    } else if (c === '.') return '"."';
  }
  return undefined;
}

const AWS_ACCOUNT_ID = /^[0-9]{12}$/;

function idHints(rule: RuleInput, at: string): LintWarning[] {
  const out: LintWarning[] = [];
  if (rule.platform === 'gcp' && typeof rule.principal === 'string' && !/^[0-9]+$/.test(rule.principal)) {
    out.push({
      path: `${at}.principal`,
      message: `GCP principals are the service account's numeric unique id (the token's sub), not "${rule.principal}"; find it with gcloud iam service-accounts describe <email> --format='value(uniqueId)'`,
    });
  }
  const account = rule.attributes?.account;
  if (
    rule.platform === 'aws' &&
    typeof account === 'string' &&
    /^[0-9]+$/.test(account) &&
    !AWS_ACCOUNT_ID.test(account)
  ) {
    out.push({
      path: `${at}.attributes.account`,
      message: `AWS account ids have 12 digits; "${account}" has ${account.length} (was a leading zero lost? quote account ids in YAML)`,
    });
  }
  return out;
}
