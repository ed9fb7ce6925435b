/**
 * The oidc platform inside workerd: the Worker fetches each issuer's discovery
 * document and key set from the emulators (http to loopback: the sandbox's BRIDGE_MODE), verifies a
 * Kubernetes service account token and a GitHub Actions ID token, and exchanges each for an agent
 * token; a token of another namespace matches no rule.
 */
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { githubActionsIdToken, kubernetesServiceAccountToken } from './harness/oidc-workloads.ts';
import { postForm, stack, TYPES } from './support/bridge.ts';

describe('Workers: oidc platform (issue 11 item 4)', () => {
  it('a Kubernetes TokenRequest token → a Graph token for the sandbox agent', async () => {
    const res = await postForm({
      subject_token: await kubernetesServiceAccountToken(stack.kubernetes, stack.audience),
      subject_token_type: TYPES.jwt,
      resource: stack.graph,
    });
    expect(res.status).toBe(200);
    expect(decodeJwt(String(res.body.access_token))).toMatchObject({ appid: stack.agentId, aud: stack.graph });
  });

  it('a GitHub Actions ID token → a token for the sandbox API', async () => {
    const res = await postForm({
      subject_token: await githubActionsIdToken(stack.githubActions, stack.audience),
      subject_token_type: TYPES.idToken,
      scope: `${stack.api}/.default`,
    });
    expect(res.status).toBe(200);
    expect(decodeJwt(String(res.body.access_token))).toMatchObject({ azp: stack.agentId, roles: ['Orders.Read'] });
  });

  it('a Kubernetes token of another namespace matches no rule: refused, nothing issued', async () => {
    const res = await postForm({
      subject_token: await kubernetesServiceAccountToken(stack.kubernetes, stack.audience, 'staging'),
      subject_token_type: TYPES.jwt,
      resource: stack.graph,
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_request' });
    expect(res.body).not.toHaveProperty('access_token');
  });
});
