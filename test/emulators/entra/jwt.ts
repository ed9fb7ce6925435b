/**
 * Reading a compact JWT before it is verified. What comes out is a routing key only (the FIC lookup,
 * the issuer to fetch keys from): every decision that grants something is made after the signature
 * check (docs/architecture.md#jwt-proofs).
 */
import { compactVerify, decodeJwt, decodeProtectedHeader, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import type { KeyObject } from 'node:crypto';

export interface ParsedJwt {
  raw: string;
  header: ProtectedHeaderParameters;
  claims: JWTPayload;
}

/** Null for anything that is not a three-part compact JWS with JSON header and claims. */
export function parseJwt(raw: string): ParsedJwt | null {
  if (raw.split('.').length !== 3) return null;
  try {
    return { raw, header: decodeProtectedHeader(raw), claims: decodeJwt(raw) };
  } catch {
    return null;
  }
}

/** RS256 signature check only: claims are judged by the caller, so each failure keeps its own AADSTS code. */
export async function rs256SignatureValid(raw: string, key: KeyObject | CryptoKey | Uint8Array): Promise<boolean> {
  try {
    await compactVerify(raw, key, { algorithms: ['RS256'] });
    return true;
  } catch {
    return false;
  }
}

export function claimString(claims: JWTPayload, name: string): string | undefined {
  const v = claims[name];
  return typeof v === 'string' ? v : undefined;
}

export function claimNumber(claims: JWTPayload, name: string): number | undefined {
  const v = claims[name];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** `aud` as a list: a string becomes one element; anything else is empty. */
export function audiences(claims: JWTPayload): string[] {
  const aud = claims.aud;
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud)) return aud.filter((a): a is string => typeof a === 'string');
  return [];
}
