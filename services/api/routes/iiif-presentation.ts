/**
 * IIIF Presentation 3.0 at /iiif/3: `/{id}/manifest.json` for each finished
 * image the caller may read, and `/collection.json` listing what the caller's
 * listings show (public images), 100 manifests a page: up to 100 images the
 * collection holds the manifests, beyond that it holds its pages
 * (`collection.json?page=N`), each a Collection of manifests.
 */
import { Router, type Request, type Response } from 'express';
import { BadRequestError, HugemapError, NotFoundError } from '../../../shared/errors.js';
import type { ImageDoc } from '../../../shared/image-status.js';
import type { ApiDeps } from '../deps.js';
import { isImageId } from '../image-id.js';
import { publicOrigin } from '../public-url.js';
import { collectionOf, manifestOf, PRESENTATION_MEDIA_TYPE } from '../presentation.js';
import { requires } from '../access/requires.js';
import { imageAccess, listingFilter, visibilityOf } from '../access/image-access.js';

export const COLLECTION_PAGE_SIZE = 100;

type Finished = ImageDoc & { width: number; height: number };
const isFinished = (doc: ImageDoc): doc is Finished => doc.status === 'done' && !!doc.width && !!doc.height;

function sendLd(req: Request, res: Response, body: unknown, cacheControl: string): void {
  // JSON-LD when asked for it (IIIF viewers do), plain JSON for everyone else.
  const wantsLd = (req.headers.accept ?? '').includes('application/ld+json');
  res.set({ 'Content-Type': wantsLd ? PRESENTATION_MEDIA_TYPE : 'application/json', 'Cache-Control': cacheControl, Vary: 'Accept' });
  // end(), not send(): send() would append "; charset=utf-8" to the media type.
  res.end(JSON.stringify(body));
}

export function iiifPresentationRouter(deps: ApiDeps): Router {
  const router = Router();

  router.get('/collection.json', requires('anyone'), async (req, res) => {
    const origin = publicOrigin(req, deps.config);
    const self = `${origin}/iiif/3/collection.json`;
    const filter = { $and: [listingFilter(req.principal), { status: 'done' as const }] };
    const pageParam = req.query.page;
    if (pageParam !== undefined && (typeof pageParam !== 'string' || !/^[1-9]\d{0,6}$/.test(pageParam))) throw new BadRequestError('page must be a positive integer');
    const total = await deps.store.images.countDocuments(filter);
    const pages = Math.max(1, Math.ceil(total / COLLECTION_PAGE_SIZE));
    const list = async (page: number) =>
      (await deps.store.images.find(filter).sort({ createdAt: -1, _id: -1 }).skip((page - 1) * COLLECTION_PAGE_SIZE).limit(COLLECTION_PAGE_SIZE).toArray()).filter(isFinished);
    const cache = 'public, max-age=60';
    if (pageParam === undefined) {
      if (pages === 1) return sendLd(req, res, collectionOf(origin, { id: self, label: 'hugemap: public images', manifests: await list(1) }), cache);
      const pageRefs = Array.from({ length: pages }, (_, i) => ({
        id: `${self}?page=${i + 1}`,
        label: `Images ${i * COLLECTION_PAGE_SIZE + 1}-${Math.min(total, (i + 1) * COLLECTION_PAGE_SIZE)}`,
      }));
      return sendLd(req, res, collectionOf(origin, { id: self, label: 'hugemap: public images', pages: pageRefs }), cache);
    }
    const page = Number(pageParam);
    if (page > pages) throw new NotFoundError(`collection page ${page} (there are ${pages})`);
    sendLd(req, res, collectionOf(origin, { id: `${self}?page=${page}`, label: `hugemap: public images, page ${page} of ${pages}`, manifests: await list(page) }), cache);
  });

  router.get('/:id/manifest.json', requires('anyone'), async (req, res) => {
    const id = req.params.id;
    if (!isImageId(id)) throw new NotFoundError(`image ${id}`);
    const doc = await imageAccess(deps).readable(req.principal, id);
    if (!isFinished(doc)) throw new HugemapError('HUGEMAP_ERR_NOT_READY', `image ${id} is ${doc.status}; its manifest is served once it is tiled`, { httpStatus: 409, permanent: true });
    sendLd(req, res, manifestOf(publicOrigin(req, deps.config), doc), visibilityOf(doc) === 'private' ? 'private, max-age=60' : 'public, max-age=300');
  });

  return router;
}
