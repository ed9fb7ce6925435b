import type { Icon, ICredentialTestRequest, ICredentialType, INodeProperties } from 'n8n-workflow';

export class EntraAgentTokenApi implements ICredentialType {
  name = 'entraAgentTokenApi';

  displayName = 'Entra Agent Token API';

  icon: Icon = { light: 'file:../icons/entraAgentToken.svg', dark: 'file:../icons/entraAgentToken.dark.svg' };

  documentationUrl = 'https://learn.microsoft.com/en-us/entra/agent-id/';

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
        'The instance private key (PEM or JWK, EC P-256 or Ed25519) printed by "npm run n8n:keygen"; only its public half is registered with the bridge',
    },
  ];

  test: ICredentialTestRequest = {
    request: {
      baseURL: '={{$credentials.bridgeUrl}}',
      url: '/readyz',
      method: 'GET',
    },
  };
}
