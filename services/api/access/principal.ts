/**
 * Who is calling: resolved once per request (resolve-principal.ts) and read by
 * `requires(...)` and the service layer (image-access.ts), never re-derived
 * from headers by a route.
 */
import { LEGACY_OWNER } from '../../../shared/accounts/migrate-images.js';
import type { Role, Scope } from '../../../shared/accounts/accounts-store.js';

export type { Role, Scope };
export const SCOPES: readonly Scope[] = ['read', 'write', 'admin'];

/** How the caller proved who they are; `open` is AUTH_MODE=open's local admin. */
export type Via = 'session' | 'key' | 'bootstrap' | 'open';

export interface AnonymousPrincipal {
  kind: 'anonymous';
}

export interface UserPrincipal {
  kind: 'user';
  name: string;
  role: Role;
  /** What this credential may do: a key's scopes (never more than its user's role allows), all for a session. */
  scopes: readonly Scope[];
  via: Via;
  /** The API key's id when `via` is `key`: audit entries name it. */
  keyId?: string;
}

export type Principal = AnonymousPrincipal | UserPrincipal;

export const ANONYMOUS: AnonymousPrincipal = Object.freeze({ kind: 'anonymous' });

/** The bootstrap admin's name: owner of images from before accounts existed, and AUTH_MODE=open's caller. */
export const BOOTSTRAP_ADMIN = LEGACY_OWNER;

export function isAdmin(p: Principal): boolean {
  return p.kind === 'user' && p.role === 'admin' && p.scopes.includes('admin');
}

export function hasScope(p: Principal, scope: Scope): boolean {
  if (p.kind !== 'user') return false;
  // admin scope implies the others; write implies read.
  if (p.scopes.includes('admin')) return true;
  if (scope === 'read') return p.scopes.includes('read') || p.scopes.includes('write');
  return p.scopes.includes(scope);
}

/** The owner name recorded on images this principal creates. */
export function ownerName(p: Principal): string | null {
  return p.kind === 'user' ? p.name : null;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by resolvePrincipal for every request; anonymous when no credential was sent. */
      principal: Principal;
    }
  }
}
