/** A valid production policy that needs no upstream to start (GCP with Google's defaults): one tenant, one agent, one rule. */
export const MINIMAL_POLICY = `
version: 1
tenants:
  - tenantId: 11111111-1111-4111-8111-111111111111
    blueprints:
      - appId: 22222222-2222-4222-8222-222222222222
        agents: [{ id: 33333333-3333-4333-8333-333333333333 }]
platforms: { gcp: {} }
rules:
  - { name: r, platform: gcp, principal: "1", agent: 33333333-3333-4333-8333-333333333333, resources: [https://graph.microsoft.com] }
`;
