/**
 * IIIF Image API 3.0 (level 2 and more) at /iiif/3/{id}: info.json and image
 * requests from the stored pyramid, so Mirador, OpenSeadragon's IIIF tile
 * source and other viewers can open any finished image. CORS open; info.json
 * with the JSON-LD media type when asked for it, else application/json.
 *
 * A request that is a stored tile is passed through; any other is rendered
 * once (after the per-client render limit), in IIIF's own render slots
 * (services/api/scaling.ts), and kept in the
 * disk cache under its canonical form, so `full/max/0/default.jpg` and
 * `full/max/0/color.jpg` share one file.
 */
import { pipeline } from 'node:stream/promises';
import { Router, type Request, type Response } from 'express';
import { HugemapError, NotFoundError } from '../../../shared/errors.js';
import type { ImageDoc } from '../../../shared/image-status.js';
import type { ApiDeps } from '../deps.js';
import { isImageId } from '../image-id.js';
import { publicOrigin } from '../public-url.js';
import { scalingFor } from '../scaling.js';
import { storedPyramid } from '../../scaling/scaler.js';
import { parseIiifRequest } from '../../scaling/iiif-request.js';
import { timeRender } from '../metrics.js';
import { IIIF_MEDIA_TYPE, PROFILE_URI, iiifLimits, infoJson, renderIiif, storedTileFor } from '../../scaling/iiif-image.js';
import type { StoredPyramid } from '../../scaling/pyramid-reader.js';
import { requires } from '../access/requires.js';
import { imageAccess, visibilityOf } from '../access/image-access.js';
import { rateLimitsFor } from '../access/rate-limits.js';
import { iiifPresentationRouter } from './iiif-presentation.js';

const PROFILE_LINK = `<${PROFILE_URI}>;rel="profile"`;
const CONTENT_TYPES = { jpg: 'image/jpeg', png: 'image/png', webp: 'image/webp' } as const;

/** The IIIF image service of an image, as info.json's `id` and the manifests name it. */
export function imageServiceId(req: Request, deps: Pick<ApiDeps, 'config'>, id: string): string {
  return `${publicOrigin(req, deps.config)}/iiif/3/${id}`;
}

/** Content ids never change their pixels; a private image's answers stay out of shared caches. */
function cacheControl(doc: ImageDoc, maxAge: number): string {
  return visibilityOf(doc) === 'private' ? `private, max-age=${maxAge}` : `public, max-age=${maxAge}${maxAge >= 31536000 ? ', immutable' : ''}`;
}

export function iiifRouter(deps: ApiDeps): Router {
  const router = Router();
  router.use((req, res, next) => {
    res.set({ 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'Link, X-Cache, X-Iiif-Source' });
    if (req.method === 'OPTIONS') {
      res.set('Access-Control-Allow-Headers', '*').status(204).end();
      return;
    }
    next();
  });

  async function pyramidOf(req: Request, id: string | undefined): Promise<{ doc: ImageDoc; p: StoredPyramid }> {
    // An unknown id of any shape is a 404 (the validator's id_error_random asks for one).
    if (!isImageId(id)) throw new NotFoundError(`image ${id}`);
    const doc = await imageAccess(deps).readable(req.principal, id);
    const p = storedPyramid(doc);
    if (!p) throw new HugemapError('HUGEMAP_ERR_NOT_READY', `image ${doc._id} is ${doc.status}; IIIF is served once it is tiled`, { httpStatus: 409, permanent: true });
    return { doc, p };
  }

  // Before /:id, which would take "collection.json" for an id.
  router.use(iiifPresentationRouter(deps));

  router.get('/:id', requires('anyone'), (req, res) => {
    res.redirect(303, `${req.baseUrl}/${encodeURIComponent(req.params.id ?? '')}/info.json`);
  });

  router.get('/:id/info.json', requires('anyone'), async (req, res) => {
    const { doc, p } = await pyramidOf(req, req.params.id);
    const wantsLd = (req.headers.accept ?? '').includes('application/ld+json');
    res.set({
      'Content-Type': wantsLd ? IIIF_MEDIA_TYPE : 'application/json',
      Link: PROFILE_LINK,
      'Cache-Control': cacheControl(doc, 86400),
      Vary: 'Accept',
    });
    // end(), not send(): send() would append "; charset=utf-8" to the IIIF media type.
    res.end(JSON.stringify(infoJson(imageServiceId(req, deps, p.id), p, iiifLimits(deps.config.scale))));
  });

  router.get('/:id/:region/:size/:rotation/:file', requires('anyone'), async (req: Request<Record<string, string>>, res: Response) => {
    const { id, region = '', size = '', rotation = '', file = '' } = req.params;
    const { doc, p } = await pyramidOf(req, id);
    const request = parseIiifRequest(p.width, p.height, iiifLimits(deps.config.scale), { region, size, rotation, file });
    res.set({
      'Content-Type': CONTENT_TYPES[request.format],
      'Cache-Control': cacheControl(doc, 31536000),
      Link: `<${imageServiceId(req, deps, p.id)}/${request.canonical}>;rel="canonical", ${PROFILE_LINK}`,
    });
    const { cache, iiifRenders } = scalingFor(deps);
    const key = `${p.id}/iiif/${request.canonical}`;
    const render = async () => {
      // Per client: renders that miss the cache are the expensive answers (access/rate-limits.ts).
      await rateLimitsFor(deps).render(req, res);
      return (await iiifRenders.run(() => timeRender(deps.metrics, 'iiif', () => renderIiif(deps.s3, p, request)))).data;
    };
    // A stored tile costs one GET: passed through, not cached twice.
    if (!cache.has(key)) {
      const tile = await storedTileFor(deps.s3, p, request);
      if (tile) {
        res.set({ 'Content-Length': String(tile.data.length), 'X-Iiif-Source': 'tile' });
        res.end(tile.data);
        return;
      }
    }
    const { entry, handle } = await cache.open(key, render);
    res.set({ 'Content-Length': String(entry.size), 'X-Iiif-Source': 'composed', 'X-Cache': entry.hit ? 'HIT' : 'MISS', ETag: entry.etag });
    try {
      await pipeline(handle.createReadStream(), res);
    } catch {
      // The client hung up: nothing to answer.
      res.destroy();
    }
  });
  return router;
}
