/** Injected faults of the token endpoint (throttling, outages, slowness, arbitrary Entra errors). */
import type { EntraFault } from './index.ts';
import { EntraError, entraError } from './errors.ts';

export function faultError(fault: Exclude<EntraFault, { kind: 'slow' }>): EntraError {
  switch (fault.kind) {
    case 'throttle': {
      // Why AADSTS50196 and an Entra-shaped body: see its row in errors.ts.
      const e = entraError(50196);
      return new EntraError(e.code, 429, e.error, e.message, { 'Retry-After': String(fault.retryAfterSec) });
    }
    case 'unavailable': {
      const e = entraError(fault.status === 503 ? 90033 : 50000);
      const headers: Record<string, string> =
        fault.retryAfterSec !== undefined ? { 'Retry-After': String(fault.retryAfterSec) } : {};
      return new EntraError(e.code, fault.status, e.error, e.message, headers);
    }
    case 'error':
      return new EntraError(fault.aadsts, fault.status, fault.error, fault.description);
  }
}

export function isFault(f: unknown): f is EntraFault {
  if (typeof f !== 'object' || f === null) return false;
  const o = f as Record<string, unknown>;
  const num = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  switch (o.kind) {
    case 'throttle':
      return num(o.retryAfterSec);
    case 'unavailable':
      return (o.status === 500 || o.status === 503) && (o.retryAfterSec === undefined || num(o.retryAfterSec));
    case 'slow':
      return num(o.delayMs);
    case 'error':
      return num(o.status) && typeof o.error === 'string' && num(o.aadsts) && typeof o.description === 'string';
    default:
      return false;
  }
}
