/**
 * The policy file: the single source of truth for its validation (zod) and for the JSON Schema
 * shipped as schema/policy.schema.json (`npm run schema`; a test keeps the two identical).
 * It names the tenants, blueprints and agent identities the bridge may act for, the platforms it
 * accepts proofs from (a platform is enabled by its section being present), and the rules.
 * The platform parts come from the registry the caller passes (src/platforms.ts): each adapter owns
 * its section's schema, and a rule may name only a registered platform.
 */
import { z } from 'zod';
import type { PlatformModule } from '../verify/contract.ts';

const nonEmpty = z.string().min(1);
const guid = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'must be a GUID');

/** A string matches exactly; {glob} uses * (no "/"), ** (anything) and ?; {regex} is fully anchored. */
export const MatcherSchema = z
  .union([
    nonEmpty.describe('Exact, case-sensitive value'),
    z
      .object({
        glob: nonEmpty.describe(
          'Glob: * matches within one "/"-separated segment, ** matches anything, ? one character',
        ),
      })
      .strict(),
    z
      .object({ regex: nonEmpty.max(512).describe('JavaScript regular expression, implicitly anchored as ^(?:...)$') })
      .strict(),
  ])
  .describe('How a value is matched');

export const ModeSchema = z.enum(['autonomous', 'obo', 'agent_user']);

const AgentSchema = z
  .object({
    id: guid.describe('Agent identity client id (the fmi_path of leg 1)'),
    name: z.string().optional().describe('Label for logs'),
  })
  .strict();

const BlueprintSchema = z
  .object({
    appId: guid.describe('Agent identity blueprint application (client) id'),
    ficSubject: z
      .string()
      .min(1)
      .max(600)
      .optional()
      .describe(
        'Subject of the federated identity credential registered on the blueprint for this bridge; default "agent-id-bridge:<appId>"',
      ),
    agents: z.array(AgentSchema).min(1).describe('Child agent identities of this blueprint the bridge may act as'),
  })
  .strict();

const TenantSchema = z
  .object({
    tenantId: z
      .string()
      .min(1)
      .refine(
        (v) => !['common', 'organizations', 'consumers'].includes(v.toLowerCase()),
        'must be a tenant id or domain, never common/organizations/consumers',
      )
      .describe('Entra tenant id (GUID) or verified domain'),
    name: z.string().optional(),
    blueprints: z.array(BlueprintSchema).min(1),
  })
  .strict();

/** The rule shape; `platform` is narrowed to the registered names by policyFileSchema. */
const RuleSchema = z
  .object({
    name: nonEmpty.describe('Unique rule name; appears in the audit log'),
    platform: nonEmpty,
    principal: MatcherSchema.describe(
      'Matches the platform principal (GCP: numeric service account id; AWS: role ARN; n8n: n8n:<instance>:workflow:<id>; oidc: per profile, e.g. system:serviceaccount:<ns>:<name>)',
    ),
    issuer: MatcherSchema.optional().describe(
      'Match on the proof issuer; an oidc rule must name one configured issuer exactly',
    ),
    attributes: z
      .record(z.string(), MatcherSchema)
      .optional()
      .describe('All listed attributes must be present and match'),
    agent: guid.describe('The one agent identity this rule allows; must be listed under tenants'),
    resources: z
      .array(nonEmpty)
      .min(1)
      .describe('Resources the agent may get tokens for, e.g. https://graph.microsoft.com'),
    modes: z.array(ModeSchema).min(1).optional().describe('Allowed modes; default ["autonomous"]'),
    agentUsers: z
      .array(nonEmpty)
      .optional()
      .describe('Agent user accounts (UPN or object id) allowed in agent_user mode'),
  })
  .strict();

/**
 * The kill switch (docs/operations.md#kill-switch): exact values refused before any rule is looked at,
 * whatever the rules say. Reloaded without a restart on Node (SIGHUP, file change); on Workers a
 * second list is kept in a Durable Object and set through the admin endpoint.
 */
const denySchema = (platformNames: readonly string[]) =>
  z
    .object({
      principals: z
        .object(Object.fromEntries(platformNames.map((n) => [n, z.array(nonEmpty).optional()])))
        .strict()
        .optional()
        .describe('Per platform, principals refused (exact, case-sensitive, as the audit log shows them)'),
      agents: z.array(guid).optional().describe('Agent identity client ids no workload may get a token for'),
      n8nInstances: z.array(nonEmpty).optional().describe('n8n instance ids whose assertions are refused'),
    })
    .strict();

/** The deny list's shape for a registry of platforms: the policy file's `deny` and the Workers admin endpoint's body. */
export function denyListSchema(platforms: readonly PlatformModule[]) {
  return denySchema(platforms.map((p) => p.name));
}

/**
 * The policy file schema for a registry of platforms: `platforms` has one optional section per
 * registered platform (its adapter's schema; a platform is enabled by its section being present) and
 * nothing else, and a rule's `platform` is one of the registered names.
 */
export function policyFileSchema(platforms: readonly PlatformModule[]) {
  const names = platforms.map((p) => p.name);
  if (names.length === 0 || new Set(names).size !== names.length)
    throw new TypeError(`platform registry must list each platform once, got [${names.join(', ')}]`);
  const sections = z.object(Object.fromEntries(platforms.map((p) => [p.name, p.configSchema.optional()]))).strict();
  const rule = RuleSchema.extend({ platform: z.enum(names as [string, ...string[]]) });
  return z
    .object({
      $schema: z.string().optional(),
      version: z.literal(1).describe('Policy file format version'),
      tenants: z.array(TenantSchema).min(1),
      platforms: sections,
      rules: z.array(rule).describe('Evaluated in order; no rule, no token (default deny)'),
      deny: denySchema(names)
        .optional()
        .describe('Kill switch: principals, agents and n8n instances refused whatever the rules say'),
    })
    .strict();
}

/** What a policy file is once parsed: each `platforms.<name>` is the output of that adapter's schema. */
export interface PolicyFile {
  $schema?: string | undefined;
  version: 1;
  tenants: z.infer<typeof TenantSchema>[];
  platforms: PlatformsConfig;
  rules: RuleInput[];
  deny?: DenyInput | undefined;
}
export interface DenyInput {
  principals?: Readonly<Record<string, readonly string[] | undefined>> | undefined;
  agents?: readonly string[] | undefined;
  n8nInstances?: readonly string[] | undefined;
}
export type Matcher = z.infer<typeof MatcherSchema>;
export type Mode = z.infer<typeof ModeSchema>;
export type RuleInput = z.infer<typeof RuleSchema>;
/** Validated `platforms` sections by platform name; absent = that platform is not enabled. */
export type PlatformsConfig = Readonly<Record<string, unknown>>;

export function policyJsonSchema(platforms: readonly PlatformModule[]): Record<string, unknown> {
  return z.toJSONSchema(policyFileSchema(platforms), { target: 'draft-2020-12' }) as Record<string, unknown>;
}
