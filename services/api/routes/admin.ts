/**
 * /admin/queues: the BullMQ queue in bull-board, for operators. Never open by
 * default: without ADMIN_TOKEN or ADMIN_USER/ADMIN_PASSWORD it does not exist
 * (404). With a token, send `Authorization: Bearer <token>`, or sign in once at
 * /admin/login, which sets an HttpOnly cookie; with a user and password,
 * HTTP basic auth. Read-only unless ADMIN_READ_ONLY=false.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import express, { Router, type Request, type RequestHandler } from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Config } from '../../../shared/config.js';
import type { ApiDeps } from '../deps.js';
import { requires } from '../access/requires.js';

export const ADMIN_BASE = '/admin/queues';
export const ADMIN_COOKIE = 'hugemap_admin';

/** Compares digests so neither the length nor the content leaks through timing. */
function same(a: string, b: string): boolean {
  const d = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(d(a), d(b));
}

function cookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

export function isAdmin(req: Request, admin: Config['admin']): boolean {
  const auth = req.headers.authorization ?? '';
  if (admin.token) {
    const bearer = /^Bearer\s+(.+)$/i.exec(auth)?.[1];
    if (bearer !== undefined && same(bearer.trim(), admin.token)) return true;
    const fromCookie = cookie(req, ADMIN_COOKIE);
    if (fromCookie !== undefined && same(fromCookie, admin.token)) return true;
  }
  if (admin.user && admin.password) {
    const basic = /^Basic\s+(.+)$/i.exec(auth)?.[1];
    if (basic !== undefined) {
      const decoded = Buffer.from(basic, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0 && same(decoded.slice(0, colon), admin.user) && same(decoded.slice(colon + 1), admin.password)) return true;
    }
  }
  return false;
}

export function adminRouter(deps: ApiDeps): Router {
  const router = Router();
  const { admin } = deps.config;
  if (!admin.token && !(admin.user && admin.password)) return router; // falls through to the 404 handler

  const requireAdmin: RequestHandler = (req, res, next) => {
    if (isAdmin(req, admin)) return next();
    res.set('Cache-Control', 'no-store');
    if (admin.user) res.set('WWW-Authenticate', 'Basic realm="hugemap admin", charset="UTF-8"');
    if (req.accepts(['html', 'json']) === 'html' && admin.token) {
      res.redirect(302, `/admin/login?next=${encodeURIComponent(req.originalUrl)}`);
      return;
    }
    res.status(401).json({ error: { code: 'HUGEMAP_ERR_UNAUTHORIZED', message: 'admin credentials required' } });
  };

  if (admin.token) {
    router.get('/admin/login', requires('anyone'), (_req, res) => {
      res.set('Cache-Control', 'no-store').type('html').send(loginPage(false));
    });
    router.post('/admin/login', requires('anyone'), express.urlencoded({ extended: false, limit: '4kb' }), (req, res) => {
      const token = typeof req.body?.token === 'string' ? req.body.token : '';
      if (!same(token, admin.token!)) {
        res.status(401).type('html').send(loginPage(true));
        return;
      }
      const next = typeof req.query.next === 'string' && req.query.next.startsWith(ADMIN_BASE) ? req.query.next : ADMIN_BASE;
      res.cookie(ADMIN_COOKIE, token, { httpOnly: true, sameSite: 'strict', path: '/admin', secure: req.secure });
      res.redirect(303, next);
    });
  }

  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(ADMIN_BASE);
  createBullBoard({
    queues: [
      new BullMQAdapter(deps.queue, {
        readOnlyMode: admin.readOnly,
        allowRetries: !admin.readOnly,
        description: 'Tiling jobs; each job id is an image id',
        // The job id is the image id; /v/{id} shows its status while it is processed, the image once done.
        externalJobUrl: (job) => ({ href: `/v/${encodeURIComponent(String(job.id))}`, displayText: 'image status' }),
      }),
    ],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'hugemap queues' } },
  });
  withoutThirdPartyAssets(serverAdapter);
  router.use(ADMIN_BASE, requires('anyone'), requireAdmin, (_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  }, serverAdapter.getRouter() as RequestHandler);
  return router;
}

/**
 * bull-board's page links its fonts from fonts.googleapis.com: a third-party request from every
 * operator's browser, and nothing but the fallback font where the servers have no internet. Its
 * own stylesheet names system fonts after IBM Plex, so the page is rendered without the link;
 * everything else it loads (scripts, styles, icons) comes from this app. The adapter renders its
 * one page with an EJS engine on its own express app: that engine's output is filtered here.
 */
export const THIRD_PARTY_LINK = /<link\b[^>]*\bhref="https?:\/\/[^"]*"[^>]*>\s*/gi;

function withoutThirdPartyAssets(adapter: ExpressAdapter): void {
  const app = adapter.getRouter() as unknown as { engines: Record<string, RenderFile>; engine(ext: string, fn: RenderFile): void };
  const render = app.engines['.ejs'];
  if (!render) throw new Error('bull-board no longer renders its page with EJS: check its page for third-party assets');
  app.engine('ejs', (file, options, done) => render(file, options, (err, html) => done(err, html?.replace(THIRD_PARTY_LINK, ''))));
}

type RenderFile = (file: string, options: object, done: (err: Error | null, html?: string) => void) => void;

function loginPage(failed: boolean): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>hugemap admin</title><link rel="stylesheet" href="/static/css/app.css"></head>
<body><main class="narrow"><h1>Ops dashboard</h1>
${failed ? '<p class="error" role="alert">Wrong token.</p>' : ''}
<form method="post"><label>Admin token <input type="password" name="token" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form></main></body></html>`;
}
