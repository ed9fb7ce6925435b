/**
 * `agent-id-bridge fic`: the exact Microsoft Graph request that registers the bridge as a federated
 * identity credential on a blueprint (docs/operations.md#registering-the-bridge-on-a-blueprint), per
 * cloud: issuer = BRIDGE_ISSUER byte for byte, subject = the blueprint's ficSubject, audience = the
 * cloud's token-exchange audience (src/entra/cloud.ts). Prints; sends nothing.
 */
import { parsePolicyText } from '../config/policy-file.ts';
import { ENTRA_CLOUDS, MAX_FIC_AUDIENCE_CHARS } from '../constants.ts';
import { tokenExchangeAudienceFor } from '../entra/cloud.ts';
import { defaultFicSubject } from '../policy/policy.ts';
import { loadPlatforms } from './platforms.ts';
import { EXIT, stringOption, UsageError, type Command } from './command.ts';
import { readInput } from './read-input.ts';

/** Graph federatedIdentityCredential: name is 3-120 characters of letters, digits, "-" and "_" (https://learn.microsoft.com/graph/api/resources/federatedidentitycredential). */
const FIC_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$/;
const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export const ficCommand: Command = {
  words: ['fic'],
  summary: 'print the Graph request that registers the bridge as a FIC on a blueprint',
  help: `usage: agent-id-bridge fic --issuer URL (--blueprint APP_ID [--subject S] | --policy FILE)
                          [--cloud global|usgov|usgov-dod|china] [--audience URI] [--name NAME]

Prints the Microsoft Graph request (and the same as an az rest command) that adds the bridge as a
federated identity credential on each blueprint. Sends nothing. It needs
AgentIdentityBlueprint.AddRemoveCreds.All, or the Agent ID Developer role.
  --issuer URL     BRIDGE_ISSUER, byte for byte (default: the BRIDGE_ISSUER variable)
  --blueprint ID   the blueprint's application (client) id
  --subject S      the FIC subject (default agent-id-bridge:<blueprint>; must equal the policy's ficSubject)
  --policy FILE    every blueprint of the policy file, each with its ficSubject
  --cloud C        global (default), usgov, usgov-dod, china: Graph's host and the token-exchange audience
  --audience URI   the token-exchange audience, for a cloud not listed (ENTRA_TOKEN_EXCHANGE_AUDIENCE)
  --name NAME      the credential's name on the blueprint (default agent-id-bridge)
  -h, --help       this text

Exit: 0, 2 usage or unreadable policy.`,
  options: {
    issuer: { type: 'string' },
    blueprint: { type: 'string' },
    subject: { type: 'string' },
    policy: { type: 'string' },
    cloud: { type: 'string' },
    audience: { type: 'string' },
    name: { type: 'string' },
  },
  async run(args, io) {
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument ${args.positionals[0]}`);
    const issuer = stringOption(args, 'issuer') ?? io.env.BRIDGE_ISSUER?.trim();
    if (!issuer) throw new UsageError('--issuer is required (or set BRIDGE_ISSUER)');
    if (
      !URL.canParse(issuer) ||
      !issuer.startsWith('https://') ||
      issuer.endsWith('/') ||
      new URL(issuer).search !== ''
    ) {
      throw new UsageError(
        `--issuer ${issuer}: must be the bridge's https URL without a trailing "/" or query (Entra compares it byte for byte)`,
      );
    }
    const cloudName = stringOption(args, 'cloud') ?? 'global';
    const cloud = ENTRA_CLOUDS[cloudName];
    if (!cloud) throw new UsageError(`--cloud must be one of ${Object.keys(ENTRA_CLOUDS).join(', ')}`);
    const audience = stringOption(args, 'audience') ?? tokenExchangeAudienceFor(cloud.authorityHost);
    if (!audience || audience.length > MAX_FIC_AUDIENCE_CHARS)
      throw new UsageError('--audience is required for this cloud (at most 600 characters)');
    const name = stringOption(args, 'name') ?? 'agent-id-bridge';
    if (!FIC_NAME.test(name)) throw new UsageError('--name: 3-120 characters of letters, digits, "-" and "_"');

    const targets = await blueprintsOf(args.values, io);
    for (const [i, t] of targets.entries()) {
      const url = `${cloud.graph}/v1.0/applications(appId='${t.blueprint}')/federatedIdentityCredentials`;
      const body = { name, issuer, subject: t.subject, audiences: [audience] };
      io.out(
        [
          ...(i > 0 ? [''] : []),
          `# Blueprint ${t.blueprint}${t.tenant ? ` (tenant ${t.tenant})` : ''}, cloud ${cloudName}`,
          `POST ${url}`,
          'Content-Type: application/json',
          '',
          JSON.stringify(body, null, 2),
          '',
          `# the same with the Azure CLI (signed in to the blueprint's tenant${cloudName === 'global' ? '' : ` in the ${cloudName} cloud`}):`,
          `az rest --method POST --url "${url}" --headers Content-Type=application/json --body '${JSON.stringify(body)}'`,
          '',
        ].join('\n'),
      );
    }
    return EXIT.ok;
  },
};

async function blueprintsOf(
  values: Record<string, string | boolean | undefined>,
  io: Parameters<Command['run']>[1],
): Promise<{ blueprint: string; subject: string; tenant?: string }[]> {
  const policyFile = typeof values.policy === 'string' ? values.policy : undefined;
  const blueprint = typeof values.blueprint === 'string' ? values.blueprint : undefined;
  if ((policyFile === undefined) === (blueprint === undefined))
    throw new UsageError('give either --blueprint or --policy');
  if (blueprint !== undefined) {
    if (!GUID.test(blueprint))
      throw new UsageError(`--blueprint ${blueprint}: must be the blueprint's application (client) id, a GUID`);
    const subject = typeof values.subject === 'string' ? values.subject : defaultFicSubject(blueprint);
    return [{ blueprint, subject }];
  }
  if (values.subject !== undefined)
    throw new UsageError('--subject goes with --blueprint; with --policy each blueprint has its ficSubject');
  const parsed = parsePolicyText(await readInput(policyFile!, io, 'policy file'), policyFile!, await loadPlatforms(), {
    allowInsecureLoopback: true,
  });
  if (!parsed.file)
    throw new UsageError(`${policyFile} is not a valid policy (run agent-id-bridge policy check ${policyFile})`);
  return parsed.file.tenants.flatMap((t) =>
    t.blueprints.map((b) => ({
      blueprint: b.appId,
      subject: b.ficSubject ?? defaultFicSubject(b.appId),
      tenant: t.tenantId,
    })),
  );
}
