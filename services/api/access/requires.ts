/**
 * Every route states who may call it, as its first handler:
 *
 *   router.get('/:id', requires('anyone'), handler)
 *   router.post('/', requires('write'), handler)
 *
 * The rule is checked here against `req.principal` (resolve-principal.ts) and
 * also recorded on the handler, so test/access-declarations.test.ts can walk
 * the app's router and fail on a route that declares nothing. Ownership and
 * visibility of one image are the service layer's (image-access.ts): a rule
 * here only says which callers may try.
 */
import type { RequestHandler } from 'express';
import { ForbiddenError, UnauthenticatedError } from '../../../shared/errors.js';
import { hasScope, isAdmin } from './principal.js';

/**
 * - anyone: no credential needed (public reads; the service layer hides private images).
 * - signed-in: any principal with a credential.
 * - read / write: a principal whose scopes include it (write to create or change).
 * - admin: an admin user with the admin scope.
 */
export type AccessRule = 'anyone' | 'signed-in' | 'read' | 'write' | 'admin';

export const ACCESS_RULE = Symbol.for('hugemap.accessRule');

type DeclaredHandler = RequestHandler & { [ACCESS_RULE]?: AccessRule };

// Generic in the route's params so that, placed before a handler, it does not widen the
// params express infers from the path ('/:id' -> { id: string }).
export function requires<P = Record<string, string>>(rule: AccessRule): RequestHandler<P> {
  const check: DeclaredHandler = (req, _res, next) => {
    const p = req.principal;
    if (rule === 'anyone') return next();
    if (p.kind !== 'user') return next(new UnauthenticatedError());
    if (rule === 'signed-in') return next();
    const allowed = rule === 'admin' ? isAdmin(p) : hasScope(p, rule);
    next(allowed ? undefined : new ForbiddenError(rule === 'admin' ? 'this needs an admin' : `this needs the "${rule}" scope`));
  };
  check[ACCESS_RULE] = rule;
  return check as unknown as RequestHandler<P>;
}

/** The rule a handler declares, if it is a `requires(...)` check. */
export function declaredRule(handler: unknown): AccessRule | undefined {
  return typeof handler === 'function' ? (handler as DeclaredHandler)[ACCESS_RULE] : undefined;
}
