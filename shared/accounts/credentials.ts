/**
 * Secrets as stored: passwords hashed with argon2id (@node-rs/argon2, its
 * defaults are OWASP's: 19 MiB, 2 passes), API keys and session ids as
 * SHA-256 digests. Keys and session ids are 32 random bytes, so a fast hash is
 * enough for them (nothing to brute-force), and lookups by digest stay cheap.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';

export const API_KEY_PREFIX = 'hm_';
/** hm_ + 43 characters of base64url (32 random bytes). */
const API_KEY_SHAPE = /^hm_[A-Za-z0-9_-]{43,}$/;

export function hashPassword(password: string): Promise<string> {
  return hash(password);
}

/** False for a wrong password or an unreadable hash; never throws on either. */
export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
}

/** A hash of nothing anyone knows: verified against when the user does not exist, so both cases take as long. */
let decoy: Promise<string> | undefined;
export function decoyPasswordHash(): Promise<string> {
  return (decoy ??= hash(randomBytes(16).toString('hex')));
}

export function newApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

export function looksLikeApiKey(value: string): boolean {
  return API_KEY_SHAPE.test(value);
}

export function newSessionId(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Short public id of a key or session record (for listing and revoking): hex, so it never starts
 * with "-", which a command line (`hugemap keys revoke ID`) would take for an option.
 */
export function newRecordId(): string {
  return randomBytes(9).toString('hex');
}

export function secretDigest(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}

/** Constant-time comparison of two digests of the same kind. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
