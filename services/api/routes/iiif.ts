/**
 * IIIF Image API 3.0 (level 1 and more) at /iiif/3/{id}: info.json and image
 * requests from the stored pyramid, so Mirador, OpenSeadragon's IIIF tile
 * source and other viewers can open any finished image. CORS open; info.json
 * with the JSON-LD media type when asked for it, else application/json.
 */
import { Router, type Request, type Response } from 'express';
import { NotFoundError, HugemapError } from '../../../shared/errors.js';
import type { ApiDeps } from '../deps.js';
import { isImageId } from '../image-id.js';
import { imageAccess } from '../access/image-access.js';
import { scalingFor } from '../scaling.js';
import { storedPyramid } from '../../scaling/scaler.js';
import { parseIiifRequest } from '../../scaling/iiif-request.js';
import { timeRender } from '../metrics.js';
import { IIIF_MEDIA_TYPE, iiifLimits, infoJson, renderIiif } from '../../scaling/iiif-image.js';
import type { StoredPyramid } from '../../scaling/pyramid-reader.js';
import { requires } from '../access/requires.js';

const PROFILE_LINK = '<http://iiif.io/api/image/3/level1.json>;rel="profile"';

export function iiifRouter(deps: ApiDeps): Router {
  const router = Router();
  router.use((req, res, next) => {
    res.set('Access-Control-Allow-Origin', '*');
    if (req.method === 'OPTIONS') {
      res.set('Access-Control-Allow-Headers', '*').status(204).end();
      return;
    }
    next();
  });

  async function pyramidOf(req: Request, id: string | undefined): Promise<StoredPyramid> {
    if (!isImageId(id)) throw new NotFoundError(`image ${id}`);
    const doc = await imageAccess(deps).readable(req.principal, id);
    const p = storedPyramid(doc);
    if (!p) throw new HugemapError('HUGEMAP_ERR_NOT_READY', `image ${id} is ${doc.status}; IIIF is served once it is tiled`, { httpStatus: 409, permanent: true });
    return p;
  }

  router.get('/:id', requires('anyone'), (req, res) => {
    res.redirect(303, `${req.baseUrl}/${encodeURIComponent(req.params.id ?? '')}/info.json`);
  });

  router.get('/:id/info.json', requires('anyone'), async (req, res) => {
    const p = await pyramidOf(req, req.params.id);
    const wantsLd = (req.headers.accept ?? '').includes('application/ld+json');
    res.set({
      'Content-Type': wantsLd ? IIIF_MEDIA_TYPE : 'application/json',
      Link: PROFILE_LINK,
      'Cache-Control': 'public, max-age=86400',
      Vary: 'Accept',
    });
    // end(), not send(): send() would append "; charset=utf-8" to the IIIF media type.
    res.end(JSON.stringify(infoJson(`${origin(req)}${req.baseUrl}/${p.id}`, p, deps.config.scale.maxDimension)));
  });

  router.get('/:id/:region/:size/:rotation/:file', requires('anyone'), async (req: Request<Record<string, string>>, res: Response) => {
    const { id, region = '', size = '', rotation = '', file = '' } = req.params;
    const p = await pyramidOf(req, id);
    const request = parseIiifRequest(p.width, p.height, iiifLimits(p, deps.config.scale.maxDimension), { region, size, rotation, file });
    const image = await scalingFor(deps).renders.run(() => timeRender(deps.metrics, 'iiif', () => renderIiif(deps.s3, p, request)));
    res.set({
      'Content-Type': image.contentType,
      'Content-Length': String(image.data.length),
      // Content ids never change their pixels.
      'Cache-Control': 'public, max-age=31536000, immutable',
      Link: PROFILE_LINK,
      'X-Iiif-Source': image.fromTile ? 'tile' : 'composed',
    });
    res.end(image.data);
  });
  return router;
}

function origin(req: Request): string {
  return `${req.protocol}://${req.get('host') ?? 'localhost'}`;
}
