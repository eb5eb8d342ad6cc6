/**
 * The web app: pages (/, /v/:id, /embed/:id, /gallery), its own scripts and
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
import { canRead } from '../access/image-access.js';
import { embedPage, galleryPage, notFoundPage, uploadPage, viewerPage } from '../web-pages.js';
import { requires } from '../access/requires.js';

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

export function pagesRouter(deps: ApiDeps): Router {
  const router = Router();
  const webDir = findWebDir();
  const statics = { fallthrough: false, maxAge: '1h' };
  router.use('/static', requires('anyone'), express.static(webDir, statics));
  router.use('/vendor/leaflet', requires('anyone'), express.static(distOf('leaflet'), statics));
  router.use('/vendor/geoman', requires('anyone'), express.static(distOf('@geoman-io/leaflet-geoman-free'), statics));
  router.use('/vendor/tus', requires('anyone'), express.static(distOf('tus-js-client'), statics));

  const html = (res: express.Response, body: string, status = 200) => {
    res.status(status).set({ 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' }).type('html').send(body);
  };

  router.get('/', requires('anyone'), (_req, res) => html(res, uploadPage({ maxUploadBytes: deps.config.maxUploadBytes })));
  router.get('/gallery', requires('anyone'), (_req, res) => html(res, galleryPage()));

  const loadImage = async (req: Request) => {
    const id = (req.params as Record<string, string>).id;
    if (!isImageId(id)) return null;
    // Private images of others look absent, exactly like an unknown id.
    const doc = await deps.store.get(id);
    return doc && canRead(req.principal, doc) ? toImageView(doc, deps.config, req.principal) : null;
  };

  router.get('/v/:id', requires('anyone'), async (req, res) => {
    const image = await loadImage(req);
    if (!image) return html(res, notFoundPage('There is no image with this address.'), 404);
    const origin = `${req.protocol}://${req.get('host')}`;
    // A link shared while the image is still being tiled gets its preview as the card image.
    const cardImage = image.links.thumbnail ?? image.links.preview;
    const thumbnailUrl = cardImage ? new URL(cardImage, origin).href : null;
    const embedded = req.query.embedded === '1';
    // Only the embedded view may sit in someone else's frame.
    if (!embedded) res.set('X-Frame-Options', 'SAMEORIGIN');
    html(res, viewerPage(image, { pageUrl: `${origin}/v/${image.id}`, thumbnailUrl, embedded }));
  });

  router.get('/embed/:id', requires('anyone'), async (req, res) => {
    const image = await loadImage(req);
    if (!image) return html(res, notFoundPage('There is no image with this address.'), 404);
    html(res, embedPage(image));
  });
  return router;
}
