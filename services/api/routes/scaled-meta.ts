/**
 * What a page needs to embed a scaled image without fetching it:
 *   GET /api/v1/images/{id}/scaled-dimensions?size=320x240 -> {width, height}
 *   GET /api/v1/images/{id}/tag?size=150x150[&format=webp]  -> <img ...> (text/html)
 * The dimensions come from the same function the renderer uses. A size that
 * needs a signature (not a preset, SIGNING_KEY set) is signed only for the
 * image's owner or an admin: a signed link is a licence to render that size.
 */
import { Router, type Request } from 'express';
import { BadRequestError, ForbiddenError } from '../../../shared/errors.js';
import { canWrite, imageAccess } from '../access/image-access.js';
import type { ImageDoc } from '../../../shared/image-status.js';
import { signSize } from '../../../shared/scaled-signature.js';
import type { ApiDeps } from '../deps.js';
import { parseImageId } from '../image-id.js';
import { scalingFor } from '../scaling.js';
import { imageDimensions } from '../../scaling/scaler.js';
import { scaledDimensions, type SizeSpec } from '../../scaling/size-spec.js';
import { altText, imgTag, slugify } from '../../scaling/img-tag.js';
import { requires } from '../access/requires.js';

const TAG_FORMATS = new Set(['jpg', 'webp', 'png']);

export function scaledMetaRouter(deps: ApiDeps): Router {
  const router = Router();
  const { policy, scaler } = scalingFor(deps);

  async function sized(req: Request, id: string, size: unknown): Promise<{ doc: ImageDoc; size: string; spec: SizeSpec; width: number; height: number }> {
    if (typeof size !== 'string' || size === '') throw new BadRequestError('missing ?size= (o, WxH, WxH! or a preset)');
    const spec = policy.parse(size);
    const doc = await imageAccess(deps).readable(req.principal, id);
    const full = await imageDimensions(scaler, doc);
    return { doc, size, spec, ...scaledDimensions(full.width, full.height, spec) };
  }

  router.get('/:id/scaled-dimensions', requires('anyone'), async (req, res) => {
    const { width, height } = await sized(req, parseImageId(req.params.id), req.query.size);
    res.set('Cache-Control', 'no-store').json({ width, height });
  });

  router.get('/:id/tag', requires('anyone'), async (req, res) => {
    const id = parseImageId(req.params.id);
    const format = typeof req.query.format === 'string' ? req.query.format : 'jpg';
    if (!TAG_FORMATS.has(format)) throw new BadRequestError('format must be jpg, webp or png');
    const { doc, size, width, height } = await sized(req, id, req.query.size);
    const filename = doc.source.filename ?? null;
    let src = `/i/${encodeURIComponent(size)}/${id}/${slugify(doc.title ?? filename)}.${format}`;
    if (policy.needsSignature(size)) {
      if (!canWrite(req.principal, doc)) throw new ForbiddenError(`size ${size} is not a preset: only the image's owner may make a signed link for it`);
      src += `?s=${signSize(deps.config.signingKey!, size, id)}`;
    }
    const alt = altText(doc.title, filename, deps.config.scale.altSuffix);
    res.set('Cache-Control', 'no-store').type('text/html; charset=utf-8').send(imgTag({ src, width, height, alt }));
  });
  return router;
}
