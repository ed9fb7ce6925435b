/**
 * The oidc verifier against a local issuer ("Must show" refusals that concern
 * the verifier): keys from discovery, a pinned jwksUri or inline; each profile's principal and
 * attributes; every refusal with its reason, decided before anything could be issued.
 */
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OidcIssuerSchema, type OidcIssuerConfig } from '../../../adapters/oidc/config.ts';
import { createOidcVerifier, serviceAccountPrincipal } from '../../../adapters/oidc/index.ts';
import { TOKEN_TYPE } from '../../../src/constants.ts';
import { createBoundedFetch } from '../../../src/net/bounded-fetch.ts';
import type { VerifyResult, WorkloadVerifier } from '../../../src/verify/contract.ts';
import { fixtureKey, startIssuerFixture, type FixtureKey, type IssuerFixture } from './issuer-fixture.ts';

const BRIDGE = 'https://bridge.example.com';
const runtime = { allowInsecureLoopback: true };
const deps = { fetch: createBoundedFetch({ allowInsecureLoopback: true }), clock: () => Math.floor(Date.now() / 1000) };
const now = () => Math.floor(Date.now() / 1000);

let rsa: FixtureKey;
let ec: FixtureKey;
let issuer: IssuerFixture;

beforeAll(async () => {
  rsa = await fixtureKey('rsa-1', 'RS256');
  ec = await fixtureKey('ec-1', 'ES256');
  issuer = await startIssuerFixture({ keys: [rsa, ec] });
});
afterAll(() => issuer?.close());

function entry(over: Record<string, unknown> = {}): OidcIssuerConfig {
  return OidcIssuerSchema.parse({ issuer: issuer.issuer, ...over });
}

function verifierFor(e: OidcIssuerConfig, tuning = {}): WorkloadVerifier {
  return createOidcVerifier(e, deps, runtime, tuning);
}

function verify(v: WorkloadVerifier, token: string): Promise<VerifyResult> {
  return v.verify({ token, tokenType: TOKEN_TYPE.jwt }, { now: now(), audience: BRIDGE, issuer: BRIDGE });
}

function k8sClaims(ns = 'agents', sa = 'planner', pod = true): Record<string, unknown> {
  return {
    aud: [BRIDGE],
    sub: serviceAccountPrincipal(ns, sa),
    'kubernetes.io': {
      namespace: ns,
      serviceaccount: { name: sa, uid: '0d4691ed-659b-4935-a832-355f77ee47cc' },
      ...(pod
        ? {
            pod: { name: 'planner-7b94444f8d-hws2b', uid: 'da2a9517-e352-47de-bb01-8e5450be3991' },
            node: { name: 'node-1', uid: 'f7cdb99c-bb49-447c-9481-c36c13a5e753' },
          }
        : {}),
    },
  };
}

function refusedWith(r: VerifyResult, reason: string): void {
  expect(r.ok ? 'accepted' : r.reason).toBe(reason);
}

describe('oidc keys', () => {
  it('issue 11 item 1: keys come from the discovery document; both default algorithms verify', async () => {
    const v = verifierFor(entry({ profile: 'kubernetes' }));
    for (const key of [rsa, ec]) {
      const r = await verify(v, await issuer.sign(key, k8sClaims()));
      expect(r.ok, key.alg).toBe(true);
    }
  });

  it("issue 11 item 1: a discovery document naming another issuer is the issuer's failure (503), never a pass", async () => {
    issuer.discoveryIssuer = 'https://impostor.example.com';
    try {
      const r = await verify(verifierFor(entry({ profile: 'kubernetes' })), await issuer.sign(rsa, k8sClaims()));
      refusedWith(r, 'verifier_unavailable');
      expect(r.ok ? '' : r.detail).toContain('discovery document names issuer "https://impostor.example.com"');
    } finally {
      issuer.discoveryIssuer = undefined;
    }
  });

  it('issue 11 item 1: a kid unknown after one refetch is refused (proof_unknown_key); a rotated-in key is found by that refetch', async () => {
    const v = verifierFor(entry({ profile: 'kubernetes' }), { jwksCooldownMs: 0 });
    expect((await verify(v, await issuer.sign(rsa, k8sClaims()))).ok).toBe(true);
    const stranger = await fixtureKey('never-served', 'RS256');
    const before = issuer.fetches.jwks;
    refusedWith(await verify(v, await issuer.sign(stranger, k8sClaims())), 'proof_unknown_key');
    expect(issuer.fetches.jwks - before).toBe(1);

    const rotated = await fixtureKey('rsa-2', 'RS256');
    issuer.served = [...issuer.served, rotated];
    try {
      expect((await verify(v, await issuer.sign(rotated, k8sClaims()))).ok).toBe(true);
    } finally {
      issuer.served = [rsa, ec];
    }
  });

  it('issue 11 item 1: a pinned jwksUri and inline keys verify without discovery', async () => {
    const before = issuer.fetches.discovery;
    expect(
      (
        await verify(
          verifierFor(entry({ profile: 'kubernetes', jwksUri: issuer.jwksUri })),
          await issuer.sign(rsa, k8sClaims()),
        )
      ).ok,
    ).toBe(true);
    const inline = verifierFor(entry({ profile: 'kubernetes', jwks: { keys: [ec.publicJwk] } }));
    expect((await verify(inline, await issuer.sign(ec, k8sClaims()))).ok).toBe(true);
    refusedWith(await verify(inline, await issuer.sign(rsa, k8sClaims())), 'proof_unknown_key');
    expect(issuer.fetches.discovery).toBe(before);
  });
});

describe('oidc refusals', () => {
  it('issue 11 Must show: an issuer that is not configured is refused (proof_untrusted_issuer)', async () => {
    const v = verifierFor(entry({ profile: 'kubernetes' }));
    expect(v.accepts({ token: '', tokenType: TOKEN_TYPE.jwt }, 'https://other.example.com')).toBe(false);
    refusedWith(
      await verify(v, await issuer.sign(rsa, { ...k8sClaims(), iss: 'https://other.example.com' })),
      'proof_untrusted_issuer',
    );
  });

  it("issue 11 Must show: an alg outside the issuer's list is refused before any key is fetched (proof_alg_not_allowed)", async () => {
    const v = verifierFor(entry({ profile: 'kubernetes', algorithms: ['ES256'] }));
    const before = { ...issuer.fetches };
    refusedWith(await verify(v, await issuer.sign(rsa, k8sClaims())), 'proof_alg_not_allowed');
    expect(issuer.fetches).toEqual(before);
    // An HMAC token signed with a public key's bytes as the secret never reaches a key either.
    const hs = await new SignJWT(k8sClaims())
      .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
      .setIssuer(issuer.issuer)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(JSON.stringify(rsa.publicJwk)));
    refusedWith(await verify(verifierFor(entry({ profile: 'kubernetes' })), hs), 'proof_alg_not_allowed');
    expect(issuer.fetches).toEqual(before);
    expect(() => OidcIssuerSchema.parse({ issuer: issuer.issuer, algorithms: ['HS256'] })).toThrow(
      /HS\* are never accepted/,
    );
    expect(() => OidcIssuerSchema.parse({ issuer: issuer.issuer, algorithms: ['none'] })).toThrow(/never accepted/);
  });

  it('issue 11 Must show: audience missing, different, or with a second audience is refused', async () => {
    const v = verifierFor(entry({ profile: 'kubernetes' }));
    const missing = await verify(v, await issuer.sign(rsa, k8sClaims(), { omit: ['aud'] }));
    refusedWith(missing, 'proof_claim');
    expect(missing.ok ? undefined : missing.fields?.claim).toBe('aud');
    refusedWith(
      await verify(v, await issuer.sign(rsa, { ...k8sClaims(), aud: ['https://kubernetes.default.svc'] })),
      'proof_audience',
    );
    refusedWith(
      await verify(v, await issuer.sign(rsa, { ...k8sClaims(), aud: [BRIDGE, 'https://kubernetes.default.svc'] })),
      'proof_audience_multiple',
    );
  });

  it("issue 11 item 1: an entry's own audience replaces the bridge audience", async () => {
    const v = verifierFor(entry({ profile: 'kubernetes', audience: 'agent-id-bridge' }));
    expect((await verify(v, await issuer.sign(rsa, { ...k8sClaims(), aud: 'agent-id-bridge' }))).ok).toBe(true);
    refusedWith(await verify(v, await issuer.sign(rsa, k8sClaims())), 'proof_audience');
  });

  it('issue 11 Must show: expired, not yet valid and too old are refused', async () => {
    const v = verifierFor(entry({ profile: 'kubernetes', maxTokenAgeSec: 600, maxLifetimeSec: 3600 }));
    refusedWith(
      await verify(v, await issuer.sign(rsa, k8sClaims(), { iat: now() - 900, lifetimeSec: 600 })),
      'proof_expired',
    );
    refusedWith(await verify(v, await issuer.sign(rsa, { ...k8sClaims(), nbf: now() + 600 })), 'proof_not_yet_valid');
    // Within its lifetime, but older than maxTokenAgeSec.
    refusedWith(
      await verify(v, await issuer.sign(rsa, k8sClaims(), { iat: now() - 1200, lifetimeSec: 3000 })),
      'proof_too_old',
    );
    // A lifetime longer than maxLifetimeSec.
    refusedWith(await verify(v, await issuer.sign(rsa, k8sClaims(), { lifetimeSec: 7200 })), 'proof_too_old');
  });
});

describe('oidc profiles', () => {
  it('issue 11 item 2: a Kubernetes token becomes system:serviceaccount:<ns>:<name> with the kubernetes.io attributes', async () => {
    const r = await verify(verifierFor(entry({ profile: 'kubernetes' })), await issuer.sign(rsa, k8sClaims()));
    expect(r.ok && r.value).toMatchObject({
      platform: 'oidc',
      proofKind: 'oidc-kubernetes',
      issuer: issuer.issuer,
      principal: 'system:serviceaccount:agents:planner',
      attributes: {
        namespace: 'agents',
        service_account_name: 'planner',
        service_account_uid: '0d4691ed-659b-4935-a832-355f77ee47cc',
        pod_name: 'planner-7b94444f8d-hws2b',
        pod_uid: 'da2a9517-e352-47de-bb01-8e5450be3991',
        node_name: 'node-1',
      },
    });
    // A token not bound to a pod carries no pod attributes, so a rule asking for one cannot match it.
    const unbound = await verify(
      verifierFor(entry({ profile: 'kubernetes' })),
      await issuer.sign(rsa, k8sClaims('agents', 'planner', false)),
    );
    expect(unbound.ok && Object.keys(unbound.value.attributes).sort()).toEqual([
      'namespace',
      'service_account_name',
      'service_account_uid',
    ]);
  });

  it('issue 11 Must show: a Kubernetes token without exp (a legacy secret-based token) is refused (proof_claim exp)', async () => {
    const r = await verify(
      verifierFor(entry({ profile: 'kubernetes' })),
      await issuer.sign(rsa, k8sClaims(), { omit: ['exp'] }),
    );
    refusedWith(r, 'proof_claim');
    expect(r.ok ? undefined : r.fields?.claim).toBe('exp');
  });

  it('issue 11 item 2: a Kubernetes token whose sub disagrees with its kubernetes.io claim, or without that claim, is refused', async () => {
    const v = verifierFor(entry({ profile: 'kubernetes' }));
    refusedWith(
      await verify(v, await issuer.sign(rsa, { ...k8sClaims(), sub: 'system:serviceaccount:kube-system:admin' })),
      'proof_claim',
    );
    refusedWith(
      await verify(v, await issuer.sign(rsa, { aud: BRIDGE, sub: 'system:serviceaccount:agents:planner' })),
      'proof_claim',
    );
    refusedWith(await verify(v, await issuer.sign(rsa, k8sClaims('Agents:x'))), 'proof_claim');
  });

  it("issue 11 item 2: a GitHub Actions token keeps GitHub's sub as the principal; repository, ref and ids are attributes", async () => {
    const v = verifierFor(entry({ profile: 'github-actions' }));
    const r = await verify(
      v,
      await issuer.sign(rsa, {
        aud: BRIDGE,
        sub: 'repo:octo-org/agent:ref:refs/heads/main',
        repository: 'octo-org/agent',
        repository_id: '74',
        repository_owner: 'octo-org',
        repository_owner_id: '65',
        ref: 'refs/heads/main',
        ref_type: 'branch',
        workflow_ref: 'octo-org/agent/.github/workflows/run.yml@refs/heads/main',
        job_workflow_ref: 'octo-org/agent/.github/workflows/run.yml@refs/heads/main',
        event_name: 'push',
        head_ref: '',
        actor: 'octocat',
        run_id: '42',
      }),
    );
    expect(r.ok && r.value).toMatchObject({
      proofKind: 'oidc-github-actions',
      principal: 'repo:octo-org/agent:ref:refs/heads/main',
      attributes: {
        repository: 'octo-org/agent',
        repository_id: '74',
        repository_owner: 'octo-org',
        repository_owner_id: '65',
        ref: 'refs/heads/main',
        ref_type: 'branch',
        event_name: 'push',
      },
      auditContext: { github_actor: 'octocat', github_run_id: '42' },
    });
    expect(r.ok && 'environment' in r.value.attributes).toBe(false);
    refusedWith(
      await verify(v, await issuer.sign(rsa, { aud: BRIDGE, sub: 'repo:octo-org/agent:ref:refs/heads/main' })),
      'proof_claim',
    );
  });

  it('issue 11 Must show: a SPIFFE ID outside the configured trust domain is refused (proof_claim)', async () => {
    const v = verifierFor(entry({ profile: 'spiffe', trustDomain: 'prod.example.org' }));
    const ok = await verify(
      v,
      await issuer.sign(ec, { aud: BRIDGE, sub: 'spiffe://prod.example.org/ns/agents/sa/planner' }),
    );
    expect(ok.ok && ok.value).toMatchObject({
      proofKind: 'oidc-spiffe-jwt-svid',
      principal: 'spiffe://prod.example.org/ns/agents/sa/planner',
      attributes: { trust_domain: 'prod.example.org' },
    });
    for (const sub of [
      'spiffe://staging.example.org/ns/agents/sa/planner',
      'spiffe://prod.example.org.evil/x',
      'spiffe://prod.example.org',
      'spiffe://prod.example.org/a//b',
      'spiffe://prod.example.org/../x',
      'https://prod.example.org/x',
    ]) {
      refusedWith(await verify(v, await issuer.sign(ec, { aud: BRIDGE, sub })), 'proof_claim');
    }
    // JWT-SVID §2.3: typ, when present, is JWT or JOSE.
    refusedWith(
      await verify(
        v,
        await issuer.sign(ec, { aud: BRIDGE, sub: 'spiffe://prod.example.org/x' }, { header: { typ: 'at+jwt' } }),
      ),
      'proof_typ_mismatch',
    );
  });

  it('issue 11 item 1: without a profile the principal is principalClaim and listed claims become typed attributes', async () => {
    const v = verifierFor(entry({ principalClaim: 'client_id', attributes: ['team', 'tier', 'prod'] }));
    const r = await verify(
      v,
      await issuer.sign(rsa, {
        aud: BRIDGE,
        sub: 'ignored',
        client_id: 'svc-42',
        team: 'billing',
        tier: 2,
        prod: true,
        unlisted: 'x',
      }),
    );
    expect(r.ok && r.value).toMatchObject({
      proofKind: 'oidc-jwt',
      principal: 'svc-42',
      attributes: { team: 'billing', tier: '2', prod: 'true' },
    });
    expect(r.ok && 'unlisted' in r.value.attributes).toBe(false);
    refusedWith(
      await verify(v, await issuer.sign(rsa, { aud: BRIDGE, client_id: 'svc-42', team: { name: 'billing' } })),
      'proof_claim',
    );
    refusedWith(
      await verify(v, await issuer.sign(rsa, { aud: BRIDGE, client_id: 'svc-42', team: ['a'] })),
      'proof_claim',
    );
    refusedWith(await verify(v, await issuer.sign(rsa, { aud: BRIDGE, sub: 'x' })), 'proof_claim');
  });
});
