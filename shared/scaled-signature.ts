/**
 * The `?s=` signature of a scaled-image size: HMAC-SHA256 over `{size}/{id}`,
 * base64url, first 22 characters (128 bits). The extension and slug are not
 * signed, so one signature serves every format of that size. Shared by the API
 * (checking) and the TypeScript client (signing); node:crypto only.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const SIGNATURE_LENGTH = 22;

export function signSize(key: string, size: string, id: string): string {
  return createHmac('sha256', key).update(`${size}/${id}`).digest('base64url').slice(0, SIGNATURE_LENGTH);
}

export function isValidSignature(key: string, size: string, id: string, signature: unknown): boolean {
  if (typeof signature !== 'string' || signature.length !== SIGNATURE_LENGTH) return false;
  return timingSafeEqual(Buffer.from(signSize(key, size, id)), Buffer.from(signature));
}
