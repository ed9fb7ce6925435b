/**
 * An n8n instance assertion in the community node's format (docs/platforms/n8n.md#assertion-format), signed with
 * jose so that it runs in Node (smoke test) and inside workerd (Workers tests) alike.
 */
import { importJWK, SignJWT } from 'jose';

export async function signN8nAssertion(p: {
  privateJwk: Record<string, string>;
  instanceId: string;
  workflowId: string;
  audience: string;
  jti?: string;
}): Promise<string> {
  const key = await importJWK(p.privateJwk, 'ES256');
  const iss = `n8n:${p.instanceId}`;
  return new SignJWT({ jti: p.jti ?? crypto.randomUUID() })
    .setProtectedHeader({ alg: 'ES256', kid: p.privateJwk.kid!, typ: 'JWT' })
    .setIssuer(iss)
    .setSubject(`${iss}:workflow:${p.workflowId}`)
    .setAudience(p.audience)
    .setIssuedAt()
    .setExpirationTime('2m')
    .sign(key);
}
