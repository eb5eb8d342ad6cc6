/**
 * The web app: pages (/, /v/:id, /embed/:id, /gallery, /login, /me), its own scripts and
 * styles from web/ under /static, and the browser libraries from node_modules
 * under /vendor (explicit dist folders only, never node_modules as a whole).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { Router, type Request } from 'express';
import type { ApiDeps } from '../deps.js';
import { isImageId } from '../image-id.js';
import { toImageView } from '../image-view.js';
import {
  embedPage,
  galleryPage,
  loginPage,
  myImagesPage,
  notFoundPage,
  uploadPage,
  viewerPage,
  type PageSession,
} from '../web-pages.js';
import { requires } from '../access/requires.js';
import { canWrite, imageAccess } from '../access/image-access.js';
import { hasScope } from '../access/principal.js';
import { NotFoundError } from '../../../shared/errors.js';
import { publicOrigin } from '../public-url.js';
import { allowAnyFrameAncestor } from '../security-headers.js';

const here = dirname(fileURLToPath(import.meta.url));

/** A package's dist folder, found the way Node looks up node_modules (some packages export no package.json). */
function distOf(pkg: string): string {
  for (let dir = here; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', pkg, 'dist');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error(`${pkg}/dist not found in any node_modules above ${here}`);
  }
}

/** The repository (or image) root: the first folder above this module holding web/ and package.json. */
function findWebDir(): string {
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'web', 'js')) && existsSync(join(dir, 'package.json'))) return join(dir, 'web');
    if (dirname(dir) === dir) throw new Error('web/ folder not found above services/api/routes');
  }
}

/** The header's view of the caller (who is signed in, may they upload). */
export function pageSession(req: Request, config: ApiDeps['config']): PageSession {
  const p = req.principal;
  return {
    user: p.kind === 'user' ? { name: p.name, role: p.role } : null,
    authMode: config.authMode,
    canUpload: hasScope(p, 'write'),
  };
}

const html = (res: express.Response, body: string, status = 200) => {
  res.status(status).set('Cache-Control', 'no-cache').type('html').send(body);
};

export function pagesRouter(deps: ApiDeps): Router {
  const router = Router();
  const webDir = findWebDir();
  const statics = { fallthrough: false, maxAge: '1h' };
  router.use('/static', requires('anyone'), express.static(webDir, statics));
  router.use('/vendor/leaflet', requires('anyone'), express.static(distOf('leaflet'), statics));
  router.use('/vendor/geoman', requires('anyone'), express.static(distOf('@geoman-io/leaflet-geoman-free'), statics));
  router.use('/vendor/tus', requires('anyone'), express.static(distOf('tus-js-client'), statics));
  // serve-static's "no such file" is a plain 404 error: ours, so it answers 404 and not 500.
  router.use(((err, _req, _res, next) => {
    const status = (err as { status?: number }).status;
    next(status === 404 ? new NotFoundError('file') : err);
  }) as express.ErrorRequestHandler);

  const session = (req: Request) => pageSession(req, deps.config);

  router.get('/', requires('anyone'), (req, res) => html(res, uploadPage({ maxUploadBytes: deps.config.maxUploadBytes, session: session(req) })));
  router.get('/gallery', requires('anyone'), (req, res) => html(res, galleryPage(session(req))));
  router.get('/login', requires('anyone'), (req, res) => html(res, loginPage(session(req))));
  router.get('/me', requires('anyone'), (req, res) => html(res, myImagesPage(session(req))));

  /** The image if this caller may see it; null for a bad id, a missing image or someone else's private one. */
  const loadImage = async (req: Request) => {
    const id = (req.params as Record<string, string>).id;
    if (!isImageId(id)) return null;
    try {
      return await imageAccess(deps).readable(req.principal, id);
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      throw err;
    }
  };
  const missing = (req: Request, res: express.Response) => html(res, notFoundPage('There is no image with this address.', session(req)), 404);

  router.get('/v/:id', requires('anyone'), async (req, res) => {
    const doc = await loadImage(req);
    if (!doc) return missing(req, res);
    const image = toImageView(doc, deps.config, req.principal);
    const origin = publicOrigin(req, deps.config);
    // A link shared while the image is still being tiled gets its preview as the card image.
    const cardImage = image.links.thumbnail ?? image.links.preview;
    const thumbnailUrl = cardImage ? new URL(cardImage, origin).href : null;
    const embedded = req.query.embedded === '1';
    // Only the embedded view may sit in someone else's frame.
    if (embedded) allowAnyFrameAncestor(res, deps.config);
    const editable = !embedded && canWrite(req.principal, doc);
    html(res, viewerPage(image, { pageUrl: `${origin}/v/${image.id}`, manifestUrl: `${origin}/iiif/3/${image.id}/manifest.json`, thumbnailUrl, embedded, editable, session: session(req) }));
  });

  router.get('/embed/:id', requires('anyone'), async (req, res) => {
    const doc = await loadImage(req);
    if (!doc) return missing(req, res);
    allowAnyFrameAncestor(res, deps.config);
    html(res, embedPage(toImageView(doc, deps.config, req.principal), session(req)));
  });
  return router;
}

/**
 * Last before the JSON 404: a browser asking for a page that does not exist gets an HTML page
 * (with the header) and a real 404; API clients keep the JSON error.
 */
export function pageNotFoundRouter(deps: ApiDeps): Router {
  const router = Router();
  const apiPaths = /^\/(api|tiles|iiif|i|admin)(\/|$)/;
  router.use(requires('anyone'), (req, res, next) => {
    const wantsHtml = (req.method === 'GET' || req.method === 'HEAD') && !apiPaths.test(req.path) && req.accepts(['json', 'html']) === 'html';
    if (!wantsHtml) return next();
    html(res, notFoundPage(`There is no page at ${req.path}.`, pageSession(req, deps.config)), 404);
  });
  return router;
}
