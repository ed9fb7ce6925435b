/**
 * Sandbox OIDC workloads (docs/platforms/oidc.md): an emulated Kubernetes API server (a cluster's
 * service account issuer with the TokenRequest API) and GitHub Actions' token service, both on
 * loopback, listed under `platforms.oidc.issuers` with the kubernetes and github-actions profiles
 * (their http issuer URLs pass because the sandbox allows http to loopback), and one rule each
 * mapping the sandbox workload to the sandbox agent. Takes two ports: the API server on `port`, the
 * token service on the next one.
 */
import {
  DEFAULT_NAMESPACE,
  DEFAULT_SERVICE_ACCOUNT,
  serviceAccountSubject,
  startKubernetesEmulator,
  type KubernetesEmulator,
} from '../../test/emulators/kubernetes/index.ts';
import { startGithubActionsEmulator, type GithubActionsEmulator } from '../../test/emulators/github-actions/index.ts';
import type { SandboxPlatform, SandboxPlatformContext, SandboxPlatformFactory } from './types.ts';

export interface OidcSandboxPlatform extends SandboxPlatform {
  kubernetes: KubernetesEmulator;
  github: GithubActionsEmulator;
}

export const startOidcSandbox: SandboxPlatformFactory = Object.assign(
  async (ctx: SandboxPlatformContext): Promise<OidcSandboxPlatform> => {
    const kubernetes = await startKubernetesEmulator({}, ctx.port);
    let github: GithubActionsEmulator;
    try {
      github = await startGithubActionsEmulator({}, ctx.port === 0 ? 0 : ctx.port + 1);
    } catch (e) {
      await kubernetes.close();
      throw e;
    }
    const grant = {
      agent: ctx.agentId,
      resources: [...ctx.resources],
      modes: ['autonomous', 'obo', 'agent_user'],
      agentUsers: [...ctx.agentUsers],
    };
    const sa = { namespace: DEFAULT_NAMESPACE, serviceAccount: DEFAULT_SERVICE_ACCOUNT };
    const principal = serviceAccountSubject({ namespace: sa.namespace, name: sa.serviceAccount });
    const { repository, ref } = github.job.job;
    const tokenRequestUrl = `${kubernetes.url}/api/v1/namespaces/${sa.namespace}/serviceaccounts/${sa.serviceAccount}/token`;
    return {
      name: 'oidc',
      kubernetes,
      github,
      platformConfig: {
        issuers: [
          { issuer: kubernetes.issuer, profile: 'kubernetes' },
          { issuer: github.issuer, profile: 'github-actions' },
        ],
      },
      rules: [
        {
          name: 'sandbox-kubernetes-service-account',
          platform: 'oidc',
          issuer: kubernetes.issuer,
          principal,
          attributes: { namespace: sa.namespace },
          ...grant,
        },
        // GitHub rules match on the repository plus the ref (or environment): a feature branch of the same repository is not allowed.
        {
          name: 'sandbox-github-actions-main',
          platform: 'oidc',
          issuer: github.issuer,
          principal: { glob: `repo:${repository}:**` },
          attributes: { repository, ref },
          ...grant,
        },
      ],
      manifest: {},
      manifestSections: {
        kubernetes: {
          apiServer: kubernetes.url,
          issuer: kubernetes.issuer,
          namespace: sa.namespace,
          serviceAccount: sa.serviceAccount,
          principal,
          audience: ctx.audience,
          agentId: ctx.agentId,
          adminToken: kubernetes.adminToken,
          tokenRequestUrl,
        },
        githubActions: {
          requestUrl: github.job.requestUrl,
          requestToken: github.job.requestToken,
          issuer: github.issuer,
          repository,
          ref,
          audience: ctx.audience,
          agentId: ctx.agentId,
        },
      },
      banner: [
        `   Kubernetes API  ${kubernetes.url}   (service account ${sa.namespace}/${sa.serviceAccount}; admin token in /_sandbox kubernetes.adminToken)`,
        '   Try it (TokenRequest, as kubectl create token does):',
        `     TOKEN=$(curl -s -X POST ${tokenRequestUrl} -H "Authorization: Bearer ${kubernetes.adminToken}" \\`,
        `       -H 'Content-Type: application/json' -d '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"audiences":["${ctx.audience}"],"expirationSeconds":3600}}' | jq -r .status.token)`,
        `     curl -s ${ctx.issuer}/token -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange \\`,
        `       -d subject_token_type=urn:ietf:params:oauth:token-type:jwt -d "subject_token=$TOKEN" -d resource=${ctx.resources[0]}`,
        `   GitHub Actions  ${github.url}   (repository ${repository}, ${ref})`,
        '   Try it (what core.getIDToken does in a workflow step):',
        `     TOKEN=$(curl -s -H "Authorization: Bearer ${github.job.requestToken}" '${github.job.requestUrl}&audience=${encodeURIComponent(ctx.audience)}' | jq -r .value)`,
        `     curl -s ${ctx.issuer}/token -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange \\`,
        `       -d subject_token_type=urn:ietf:params:oauth:token-type:id_token -d "subject_token=$TOKEN" -d resource=${ctx.resources[0]}`,
      ],
      close: async () => {
        await Promise.all([kubernetes.close(), github.close()]);
      },
    };
  },
  { ports: 2 },
);
