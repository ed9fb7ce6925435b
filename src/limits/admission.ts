/**
 * Admission before verification: verifying a proof costs the bridge an STS round trip, a JWKS
 * fetch or a signature check, and it happens before the bridge knows who the caller is, so the
 * caller's own rate limit (per verified principal) cannot protect it. This guard decides, from
 * what is known without verifying, whether the bridge spends that effort now:
 *
 *   1. per client address (./client-address.ts): one address cannot drive verifications without bound;
 *   2. per credential the proof names as its signer, unverified (an AWS access key id), so one
 *      credential's stream of freshly signed proofs is bounded even from many addresses;
 *   3. per unverified routing key (the JWT `iss` the proof is routed by; for proofs without an issuer
 *      claim, such as a signed AWS GetCallerIdentity, the platform and token type: STS is their one
 *      issuer). A routing key is never trusted, only counted; the client's `kid` is not part of it,
 *      because the client picks it freely (jose already bounds unknown-kid JWKS refetches);
 *   4. a cap on verifications in flight per routing key, so a slow upstream cannot pile up sockets
 *      and memory, and a flood of one issuer's proofs does not take the slots of another's. Routing
 *      keys come from configuration (routing refuses unknown issuers first), so the total is bounded.
 *
 * All three are in-process (one Node process or one Workers isolate): they bound the work each
 * process does, which is what they are for. Requests answered from the verified-proof cache do not
 * pass here: they cost no verification.
 */
import { VERIFICATION_BUSY_RETRY_AFTER_SEC } from '../constants.ts';
import { BridgeError } from '../errors.ts';
import { clientKey } from './client-address.ts';
import { WindowCounter, type WindowHit } from './window-counter.ts';

export interface AdmissionLimits {
  clientPerMinute: number;
  credentialPerMinute: number;
  issuerPerMinute: number;
  maxConcurrentVerifications: number;
  /** Keys each table holds per window (./window-counter.ts). */
  maxKeys: number;
}

/** What the runtime knows about where a request came from. */
export interface RequestOrigin {
  /** The client address (src/node.ts, src/worker.ts); undefined when the runtime cannot say. */
  readonly address: string | undefined;
}

export class AdmissionGuard {
  readonly #clients: WindowCounter;
  readonly #credentials: WindowCounter;
  readonly #issuers: WindowCounter;
  readonly #maxInFlight: number;
  readonly #clock: () => number;
  readonly #inFlight = new Map<string, number>();

  constructor(limits: AdmissionLimits, clock: () => number) {
    this.#clients = new WindowCounter({ limit: limits.clientPerMinute, maxKeys: limits.maxKeys });
    this.#credentials = new WindowCounter({ limit: limits.credentialPerMinute, maxKeys: limits.maxKeys });
    this.#issuers = new WindowCounter({ limit: limits.issuerPerMinute, maxKeys: limits.maxKeys });
    this.#maxInFlight = limits.maxConcurrentVerifications;
    this.#clock = clock;
  }

  /**
   * Admit one verification for this origin and routing key, then run it in a verification slot.
   * Throws a BridgeError (429 or 503 with Retry-After) instead of calling `verify` when a limit is
   * reached. The client is counted first, then the credential, so that neither one address nor one
   * credential can use up an issuer's budget.
   */
  async verify<T>(
    origin: RequestOrigin,
    routingKey: string,
    verify: () => Promise<T>,
    signingKeyId?: string,
  ): Promise<T> {
    const now = this.#clock();
    const client = clientKey(origin.address);
    refuseIfOver(this.#clients.hit(client, now), 'client_rate_limited', 'client', client);
    if (signingKeyId !== undefined) {
      const credential = `${routingKey}#${signingKeyId}`;
      refuseIfOver(this.#credentials.hit(credential, now), 'credential_rate_limited', 'credential', credential);
    }
    refuseIfOver(this.#issuers.hit(routingKey, now), 'issuer_rate_limited', 'issuer', routingKey);
    const running = this.#inFlight.get(routingKey) ?? 0;
    if (running >= this.#maxInFlight) {
      throw new BridgeError(
        'verification_busy',
        `${running} verifications of ${routingKey} proofs in flight (cap ${this.#maxInFlight})`,
        {
          retryAfterSec: VERIFICATION_BUSY_RETRY_AFTER_SEC,
          fields: { limiter: 'in_flight', key: routingKey, limit: String(this.#maxInFlight) },
        },
      );
    }
    this.#inFlight.set(routingKey, running + 1);
    try {
      return await verify();
    } finally {
      const left = (this.#inFlight.get(routingKey) ?? 1) - 1;
      if (left === 0) this.#inFlight.delete(routingKey);
      else this.#inFlight.set(routingKey, left);
    }
  }

  /** Verifications running now, in all or for one routing key (tests and metrics). */
  inFlight(routingKey?: string): number {
    if (routingKey !== undefined) return this.#inFlight.get(routingKey) ?? 0;
    let total = 0;
    for (const n of this.#inFlight.values()) total += n;
    return total;
  }
}

/**
 * The routing key of a proof: its platform and the unverified `iss` it was routed by (JWTs; always
 * one of the configured issuers, since routing refused the others), or its token type (proofs
 * whose one issuer is the platform's own service, such as STS for a signed GetCallerIdentity).
 */
export function routingKeyOf(platform: string, tokenType: string, unverifiedIssuer: string | undefined): string {
  return `${platform}:${unverifiedIssuer ?? tokenType}`;
}

function refuseIfOver(
  hit: WindowHit,
  reason: 'client_rate_limited' | 'credential_rate_limited' | 'issuer_rate_limited',
  limiter: string,
  key: string,
): void {
  if (hit.allowed) return;
  if (hit.full) {
    throw new BridgeError('rate_limiter_full', `${limiter} rate-limit table full; new keys wait for the next window`, {
      retryAfterSec: hit.retryAfterSec,
      fields: { limiter, key },
    });
  }
  throw new BridgeError(reason, `${limiter} ${key} over its per-minute limit`, {
    retryAfterSec: hit.retryAfterSec,
    fields: { limiter, key },
  });
}
