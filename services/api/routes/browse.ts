/**
 * Browsing: GET /api/v1/images/random, /api/v1/images/{id}/next and /previous
 * -> {id} (null past either end), and GET /api/v1/tags -> counts per tag.
 * Mounted at /api/v1 before the images router so `random` is not taken for an id.
 */
import { Router } from 'express';
import { NotFoundError } from '../../../shared/errors.js';
import { imageAccess, listingFilter } from '../access/image-access.js';
import type { ApiDeps } from '../deps.js';
import { parseImageId } from '../image-id.js';
import { nextImageId, previousImageId, randomImageId, tagCounts } from '../browse-queries.js';
import { requires } from '../access/requires.js';

export function browseRouter(deps: ApiDeps): Router {
  const router = Router();
  router.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });

  router.get('/images/random', requires('anyone'), async (req, res) => {
    const id = await randomImageId(deps.store, listingFilter(req.principal));
    if (id === null) throw new NotFoundError('any image (there are none yet)');
    res.json({ id });
  });

  for (const [path, find] of [['next', nextImageId], ['previous', previousImageId]] as const) {
    router.get(`/images/:id/${path}`, requires('anyone'), async (req, res) => {
      const doc = await imageAccess(deps).readable(req.principal, parseImageId(req.params.id));
      res.json({ id: await find(deps.store, doc, listingFilter(req.principal)) });
    });
  }

  router.get('/tags', requires('anyone'), async (req, res) => {
    res.json({ tags: await tagCounts(deps.store, listingFilter(req.principal)) });
  });
  return router;
}
