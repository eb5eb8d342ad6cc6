/**
 * The one place that reads credentials: sets `req.principal` for every request
 * before any router runs. In order: AUTH_MODE=open (everyone is the local
 * admin), `Authorization: Bearer <ADMIN_TOKEN>` (the bootstrap admin), else
 * anonymous. A credential that is sent but not valid is refused with 401 here,
 * rather than silently treated as anonymous.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { UnauthenticatedError } from '../../../shared/errors.js';
import type { ApiDeps } from '../deps.js';
import { ANONYMOUS, BOOTSTRAP_ADMIN, SCOPES, type Principal } from './principal.js';

const localAdmin = (via: 'open' | 'bootstrap'): Principal => Object.freeze({ kind: 'user', name: BOOTSTRAP_ADMIN, role: 'admin', scopes: SCOPES, via });
const OPEN_ADMIN = localAdmin('open');
const BOOTSTRAP = localAdmin('bootstrap');

/** Compares digests, so neither length nor content leaks through timing. */
export function sameSecret(a: string, b: string): boolean {
  const d = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(d(a), d(b));
}

export function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
}

export function resolvePrincipal(deps: Pick<ApiDeps, 'config'>): RequestHandler {
  const { config } = deps;
  return (req, _res, next) => {
    req.principal = ANONYMOUS;
    if (config.authMode === 'open') {
      req.principal = OPEN_ADMIN;
      return next();
    }
    const bearer = bearerToken(req.headers.authorization);
    if (bearer === undefined) return next();
    if (config.admin.token !== undefined && sameSecret(bearer, config.admin.token)) {
      req.principal = BOOTSTRAP;
      return next();
    }
    next(new UnauthenticatedError('unknown, expired or revoked credential'));
  };
}
