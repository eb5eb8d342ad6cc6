/**
 * Sign-in, users, API keys and the audit trail, under /api/v1:
 *
 *   GET    /session          who is signed in (anyone)
 *   POST   /session          {name, password} -> cookie (anyone; rate-limited)
 *   DELETE /session          sign out (signed-in)
 *   POST   /users            {name, password, role, quota?} (admin)
 *   GET    /users            (admin)
 *   DELETE /users/{name}     (admin)
 *   POST   /keys             {user?, scopes, label?, expiresAt?} -> 201 {id, key, ...}: the key is shown once
 *   GET    /keys             a member's own keys; an admin's `?user=` or all
 *   DELETE /keys/{id}        a member's own key; an admin any
 *   GET    /audit            (admin) newest first
 */
import express, { Router, type Request } from 'express';
import { z } from 'zod';
import { scopesAllowed, toKeyView, toUserView, USER_NAME, type Scope } from '../../../shared/accounts/accounts-store.js';
import { BadRequestError, ForbiddenError, NotFoundError, UnauthenticatedError } from '../../../shared/errors.js';
import type { ApiDeps } from '../deps.js';
import { accountsFor } from '../access/accounts.js';
import { auditFrom } from '../access/audit.js';
import { clearSessionCookie, readCookie, SESSION_COOKIE, setSessionCookie } from '../access/cookies.js';
import { isAdmin, type UserPrincipal } from '../access/principal.js';
import { rateLimitsFor } from '../access/rate-limits.js';
import { requires } from '../access/requires.js';

const userName = z.string().regex(USER_NAME, 'lower-case letters, digits, . _ - (at most 63), starting with a letter or digit');
const password = z.string().min(10, 'at least 10 characters').max(1024);
const quota = z.strictObject({
  bytes: z.number().int().min(0).optional(),
  images: z.number().int().min(0).optional(),
  pixels: z.number().int().min(0).optional(),
});

export const signInBody = z.strictObject({ name: z.string().min(1).max(100), password: z.string().min(1).max(1024) });
export const newUserBody = z.strictObject({ name: userName, password, role: z.enum(['admin', 'member']).default('member'), quota: quota.optional() });
export const newKeyBody = z.strictObject({
  user: userName.optional(),
  scopes: z.array(z.enum(['read', 'write', 'admin'])).min(1).max(3),
  label: z.string().trim().min(1).max(100).optional(),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
});
const auditQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(100), before: z.iso.datetime({ offset: true }).optional() });

function parse<T>(schema: z.ZodType<T>, value: unknown, what = 'body'): T {
  const parsed = schema.safeParse(value ?? {});
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new BadRequestError(`invalid ${what}: ${first ? `${first.path.join('.') || what}: ${first.message}` : 'malformed'}`);
  }
  return parsed.data;
}

const sessionUser = (p: Request['principal']) => (p.kind === 'user' ? { name: p.name, role: p.role } : null);

export function accountsRouter(deps: ApiDeps): Router {
  const router = Router();
  const accounts = () => accountsFor(deps);
  const audit = auditFrom(deps);
  const limits = rateLimitsFor(deps);
  router.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });
  const json = express.json({ limit: '8kb' });

  router.get('/session', requires('anyone'), (req, res) => {
    res.json({ user: sessionUser(req.principal), authMode: deps.config.authMode, defaultVisibility: deps.config.defaultVisibility });
  });

  router.post('/session', requires('anyone'), json, async (req, res) => {
    const { name, password: given } = parse(signInBody, req.body);
    const lower = name.toLowerCase();
    await limits.signInAllowed(req, res, lower);
    const store = await accounts();
    const user = await store.checkPassword(lower, given);
    if (!user) {
      await audit(req, 'session.sign-in-failed', `user:${lower.slice(0, 63)}`, { actor: null });
      throw new UnauthenticatedError('wrong user name or password');
    }
    await limits.signInSucceeded(req, lower);
    const { sessionId } = await store.createSession(user._id, deps.config.sessionTtlMs);
    setSessionCookie(req, res, sessionId, deps.config.sessionTtlMs);
    await audit(req, 'session.sign-in', `user:${user._id}`, { actor: user._id, via: 'session' });
    res.json({ user: { name: user._id, role: user.role } });
  });

  router.delete('/session', requires('signed-in'), async (req, res) => {
    const sessionId = readCookie(req, SESSION_COOKIE);
    if (sessionId !== undefined) await (await accounts()).endSession(sessionId);
    clearSessionCookie(req, res);
    await audit(req, 'session.sign-out', 'session');
    res.status(204).end();
  });

  router.post('/users', requires('admin'), json, async (req, res) => {
    const body = parse(newUserBody, req.body);
    const user = await (await accounts()).createUser(body.name, body.password, body.role, body.quota);
    await audit(req, 'user.create', `user:${user._id}`, { detail: { role: user.role } });
    res.status(201).location(`/api/v1/users/${user._id}`).json(toUserView(user));
  });

  router.get('/users', requires('admin'), async (_req, res) => {
    res.json({ items: (await (await accounts()).listUsers()).map(toUserView) });
  });

  router.delete('/users/:name', requires('admin'), async (req, res) => {
    const name = parse(userName, req.params.name, 'user name');
    await (await accounts()).removeUser(name);
    await audit(req, 'user.delete', `user:${name}`);
    res.status(204).end();
  });

  router.post('/keys', requires('signed-in'), json, async (req, res) => {
    const p = req.principal as UserPrincipal;
    const body = parse(newKeyBody, req.body);
    const owner = body.user ?? p.name;
    if (owner !== p.name && !isAdmin(p)) throw new ForbiddenError('only an admin may create keys for another user');
    const store = await accounts();
    const found = await store.getUser(owner);
    if (!found) throw new NotFoundError(`user ${owner}`);
    const user = { name: found._id, role: found.role };
    const allowed = scopesAllowed(user.role);
    const refused = body.scopes.filter((s) => !allowed.includes(s));
    if (refused.length > 0) throw new ForbiddenError(`a ${user.role}'s key cannot carry ${refused.join(', ')}`);
    // A key never holds more than the credential that made it.
    const beyond = body.scopes.filter((s) => !p.scopes.includes(s) && !isAdmin(p));
    if (beyond.length > 0) throw new ForbiddenError(`this credential cannot grant ${beyond.join(', ')}`);
    const expiresAt = body.expiresAt ? new Date(body.expiresAt) : null;
    if (expiresAt && expiresAt.getTime() <= Date.now()) throw new BadRequestError('invalid body: expiresAt: must be in the future');
    const { key, doc } = await store.createKey(user.name, body.scopes as Scope[], body.label ?? null, expiresAt);
    await audit(req, 'key.create', `key:${doc._id}`, { detail: { user: doc.user, scopes: doc.scopes } });
    res.status(201).location(`/api/v1/keys/${doc._id}`).json({ ...toKeyView(doc), key });
  });

  router.get('/keys', requires('signed-in'), async (req, res) => {
    const p = req.principal as UserPrincipal;
    const asked = typeof req.query.user === 'string' ? parse(userName, req.query.user, 'user') : undefined;
    if (asked !== undefined && asked !== p.name && !isAdmin(p)) throw new ForbiddenError('only an admin may list keys of another user');
    const user = isAdmin(p) ? asked : p.name;
    res.json({ items: (await (await accounts()).listKeys(user)).map(toKeyView) });
  });

  router.delete('/keys/:id', requires('signed-in'), async (req, res) => {
    const p = req.principal as UserPrincipal;
    const id = parse(z.string().regex(/^[A-Za-z0-9_-]{1,40}$/), req.params.id, 'key id');
    const store = await accounts();
    const key = await store.getKey(id);
    // Someone else's key looks like no key at all.
    if (!key || (key.user !== p.name && !isAdmin(p))) throw new NotFoundError(`key ${id}`);
    await store.revokeKey(id);
    await audit(req, 'key.revoke', `key:${id}`, { detail: { user: key.user } });
    res.status(204).end();
  });

  router.get('/audit', requires('admin'), async (req, res) => {
    const q = parse(auditQuery, req.query, 'query');
    const rows = await (await accounts()).listAudit(q.limit, q.before ? new Date(q.before) : undefined);
    const items = rows.map(({ _id, at, ...rest }) => ({ at: at.toISOString(), ...rest }));
    const last = rows[rows.length - 1];
    res.json({ items, nextCursor: rows.length === q.limit && last ? last.at.toISOString() : null });
  });

  return router;
}
