/**
 * The one place that reads credentials: sets `req.principal` for every request
 * before any router runs. In order:
 *   AUTH_MODE=open                          everyone is the local admin
 *   Authorization: Bearer <ADMIN_TOKEN>     the bootstrap admin
 *   Authorization: Bearer hm_...            an API key (its scopes, within its user's role)
 *   Cookie: hugemap_session=...             a browser session (all of its user's scopes)
 *   nothing                                 anonymous
 * A bearer credential that is sent but not valid is refused (401) rather than
 * treated as anonymous; a stale session cookie is only ignored, so an expired
 * sign-in still shows public pages. Writes authenticated by cookie must come
 * from our own origin (Origin, or Referer when there is no Origin): the CSRF
 * defence, since SameSite=Lax alone leaves top-level POSTs from other sites.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { scopesAllowed } from '../../../shared/accounts/accounts-store.js';
import { looksLikeApiKey } from '../../../shared/accounts/credentials.js';
import { ForbiddenError, UnauthenticatedError } from '../../../shared/errors.js';
import type { ApiDeps } from '../deps.js';
import { accountsFor } from './accounts.js';
import { readCookie, SESSION_COOKIE } from './cookies.js';
import { ANONYMOUS, BOOTSTRAP_ADMIN, SCOPES, type Principal } from './principal.js';

const localAdmin = (via: 'open' | 'bootstrap'): Principal => Object.freeze({ kind: 'user', name: BOOTSTRAP_ADMIN, role: 'admin', scopes: SCOPES, via });
const OPEN_ADMIN = localAdmin('open');
const BOOTSTRAP = localAdmin('bootstrap');
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Compares digests, so neither length nor content leaks through timing. */
export function sameSecret(a: string, b: string): boolean {
  const d = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(d(a), d(b));
}

export function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
}

export function resolvePrincipal(deps: Pick<ApiDeps, 'config' | 'store'>): RequestHandler {
  const { config } = deps;
  return async (req, _res, next) => {
    req.principal = ANONYMOUS;
    try {
      req.principal = await resolve(req, deps);
      next();
    } catch (err) {
      next(err);
    }
  };

  async function resolve(req: Request, deps: Pick<ApiDeps, 'config' | 'store'>): Promise<Principal> {
    if (config.authMode === 'open') return OPEN_ADMIN;
    const bearer = bearerToken(req.headers.authorization);
    if (bearer !== undefined) {
      if (config.admin.token !== undefined && sameSecret(bearer, config.admin.token)) return BOOTSTRAP;
      if (looksLikeApiKey(bearer)) {
        const found = await (await accountsFor(deps)).findKey(bearer);
        if (found) {
          const allowed = scopesAllowed(found.user.role);
          const scopes = found.key.scopes.filter((s) => allowed.includes(s));
          return { kind: 'user', name: found.user._id, role: found.user.role, scopes, via: 'key', keyId: found.key._id };
        }
      }
      throw new UnauthenticatedError('unknown, expired or revoked credential');
    }
    const sessionId = readCookie(req, SESSION_COOKIE);
    if (sessionId === undefined || sessionId.length > 200) return ANONYMOUS;
    const found = await (await accountsFor(deps)).findSession(sessionId);
    if (!found) return ANONYMOUS;
    if (!SAFE_METHODS.has(req.method) && !fromOwnOrigin(req, config)) {
      throw new ForbiddenError('cross-site request refused: a signed-in write must come from this site (Origin)');
    }
    const { user } = found;
    return { kind: 'user', name: user._id, role: user.role, scopes: scopesAllowed(user.role), via: 'session' };
  }
}

/**
 * The request's Origin (or Referer's origin) is this service's own: the host the browser sent the
 * request to (a browser does not let a page forge Host), or APP_BASE_URL / PUBLIC_BASE_URL for a
 * proxy that passes another Host upstream.
 */
export function fromOwnOrigin(req: Request, config: Pick<ApiDeps['config'], 'appBaseUrl' | 'publicBaseUrl'>): boolean {
  const claimed = (req.headers.origin ?? originOf(req.headers.referer))?.toLowerCase();
  if (!claimed || claimed === 'null') return false;
  const own = [`${req.protocol}://${req.get('host') ?? ''}`, config.appBaseUrl, config.publicBaseUrl]
    .filter((u): u is string => u !== undefined)
    .map((u) => originOf(u)?.toLowerCase());
  return own.includes(claimed);
}

function originOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}
