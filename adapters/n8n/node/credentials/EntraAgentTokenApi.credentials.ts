import type { Icon, ICredentialType, INodeProperties } from 'n8n-workflow';

export class EntraAgentTokenApi implements ICredentialType {
  name = 'entraAgentTokenApi';

  displayName = 'Entra Agent Token API';

  icon: Icon = { light: 'file:../icons/entraAgentToken.svg', dark: 'file:../icons/entraAgentToken.dark.svg' };

  // The node's own README: the fields, the Test button's answers, the errors.
  documentationUrl = 'https://github.com/agent-id-bridge/agent-id-bridge/blob/main/adapters/n8n/node/README.md';

  // The private key must never reach another node: n8n refuses to decrypt this credential for any
  // node not listed here, the HTTP Request node and its tool variants included.
  supportedNodes = ['entraAgentToken'];

  restrictToSupportedNodes = true as const;

  properties: INodeProperties[] = [
    {
      displayName: 'Bridge URL',
      name: 'bridgeUrl',
      type: 'string',
      default: '',
      required: true,
      placeholder: 'https://bridge.example.com',
      description: 'The issuer URL of agent-id-bridge; tokens are requested from its /token endpoint',
    },
    {
      displayName: 'Instance ID',
      name: 'instanceId',
      type: 'string',
      default: '',
      required: true,
      placeholder: 'n8n-prod-eu',
      description: 'The ID this n8n instance is registered under in the bridge policy (platforms.n8n.instances)',
    },
    {
      displayName: 'Private Key',
      name: 'privateKey',
      type: 'string',
      typeOptions: { password: true, rows: 6 },
      default: '',
      required: true,
      description:
        'The instance private key (PEM or JWK, EC P-256 or Ed25519). The bridge operator makes it with "npm run n8n:keygen" in a checkout of the agent-id-bridge repository (not in n8n) and registers only its public half with the bridge.',
    },
    {
      displayName: 'Project ID',
      name: 'projectId',
      type: 'string',
      default: '',
      placeholder: 'e.g. ZH2qTf1CkAm4Bu9P',
      description:
        "Optional: the ID of the n8n project this credential belongs to (in the project's URL, …/projects/{project ID}/workflows). It is sent with every token request so that the bridge's rules can require it (attribute project_id). Keep one credential per project and do not share it with other projects: n8n then lets only that project's workflows use it.",
    },
  ];

  // The Test button is the node's credentialTest method (testedBy): it checks the key locally and asks
  // the bridge for a dry run, where a plain test request could only show that some server answers.
}
