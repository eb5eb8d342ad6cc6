/**
 * GET /i/{size}/{id}.{ext} and /i/{size}/{id}/{slug}.{ext}: the image scaled
 * to a size spec (services/scaling/size-spec.ts), rendered once and then
 * served from the disk cache. The slug is for people and search engines and
 * is ignored. `o` streams the original bytes from S3.
 *
 * With the database down, a size already in the disk cache is still served
 * for an image this process recently read as public or unlisted
 * (known-visibility.ts); everything else answers 503 HUGEMAP_ERR_DB_UNAVAILABLE.
 */
import { pipeline } from 'node:stream/promises';
import { Router, type Request, type Response } from 'express';
import { BadRequestError, DbUnavailableError, NotFoundError } from '../../../shared/errors.js';
import { imageKeys, type ImageDoc } from '../../../shared/image-status.js';
import type { ApiDeps } from '../deps.js';
import { isImageId } from '../image-id.js';
import { canWrite, imageAccess, visibilityOf } from '../access/image-access.js';
import { rateLimitsFor } from '../access/rate-limits.js';
import { scalingFor } from '../scaling.js';
import { renderScaled, type OutputFormat } from '../../scaling/scaler.js';
import { timeRender } from '../metrics.js';
import { formatSizeSpec } from '../../scaling/size-spec.js';
import { requires } from '../access/requires.js';
import { knownVisibility } from '../known-visibility.js';

const FILE = /^([A-Za-z0-9_-]+)\.([a-z]+)$/;
const SLUG_FILE = /^[^/]{1,200}\.([a-z]+)$/;
const FORMATS: Record<string, OutputFormat> = { jpg: 'jpeg', jpeg: 'jpeg', png: 'png', webp: 'webp' };
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** A private image's renders stay in its owner's browser, never in a shared cache. */
const PRIVATE = 'private, max-age=3600';

export function scaledRouter(deps: ApiDeps): Router {
  const router = Router();
  router.get('/:size/:file', requires('anyone'), async (req, res) => {
    const m = FILE.exec(req.params.file ?? '');
    if (!m) throw new NotFoundError(`image ${req.params.file}`);
    await serveScaled(req, res, deps, req.params.size ?? '', m[1]!, m[2]!);
  });
  router.get('/:size/:id/:slug', requires('anyone'), async (req, res) => {
    const m = SLUG_FILE.exec(req.params.slug ?? '');
    if (!m) throw new NotFoundError(`image ${req.params.id}`);
    await serveScaled(req, res, deps, req.params.size ?? '', req.params.id ?? '', m[1]!);
  });
  return router;
}

async function serveScaled(req: Request, res: Response, deps: ApiDeps, size: string, id: string, ext: string): Promise<void> {
  const { policy, cache, scaler, renders } = scalingFor(deps);
  const spec = policy.authorize(size, id, req.query.s);
  if (!isImageId(id)) throw new NotFoundError(`image ${id}`);
  const format = spec.kind === 'original' ? undefined : FORMATS[ext];
  const key = format && spec.kind !== 'original' ? `${id}/${formatSizeSpec(spec)}.${ext === 'jpeg' ? 'jpg' : ext}` : null;
  // A cached size of an image known to be readable by anyone needs nothing from the database: served
  // without it while it is down (without waiting for it to time out again, once it is known down).
  const servableWithoutDb = () => key !== null && cache.has(key) && knownVisibility(deps).isPublicToAnyone(id);
  let doc: ImageDoc | null = null;
  if (!(deps.store.unavailable && servableWithoutDb())) {
    try {
      doc = await imageAccess(deps).readable(req.principal, id);
      knownVisibility(deps).remember(doc);
    } catch (err) {
      if (!(err instanceof DbUnavailableError && servableWithoutDb())) throw err;
    }
  }
  // Without the document (served from the cache while the database is down) the image is known public or unlisted.
  const isPrivate = doc !== null && visibilityOf(doc) === 'private';
  if (!isPrivate) res.set('Access-Control-Allow-Origin', '*');
  const cacheControl = isPrivate ? PRIVATE : IMMUTABLE;
  if (spec.kind === 'original') {
    // Originals keep their EXIF (GPS too): only when the owner allows it, and never a failed upload's bytes.
    if (!doc || doc.status === 'failed' || !(doc.downloadable === true || canWrite(req.principal, doc))) throw new NotFoundError(`original of image ${id}`);
    return serveOriginal(req, res, deps, id, ext, cacheControl);
  }

  if (!format || key === null) throw new BadRequestError(`unsupported extension .${ext}: use .jpg, .webp or .png`);
  const { entry, handle } = await cache.open(key, async () => {
    if (!doc) throw new DbUnavailableError(); // evicted meanwhile: rendering needs the document
    const image = doc;
    await rateLimitsFor(deps).render(req, res);
    return (await renders.run(() => timeRender(deps.metrics, 'scaled', () => renderScaled(scaler, image, spec, format)))).data;
  });
  if (entry.hit) deps.metrics?.renderCacheHits.inc();
  res.set({ 'Content-Type': `image/${format}`, 'Cache-Control': cacheControl, ETag: entry.etag, 'X-Cache': entry.hit ? 'HIT' : 'MISS' });
  if (matches(req, entry.etag)) {
    await handle.close();
    res.status(304).end();
    return;
  }
  res.set('Content-Length', String(entry.size));
  await sendStream(res, handle.createReadStream());
}

const ORIGINAL_EXTENSIONS: Record<string, string[]> = {
  'image/jpeg': ['jpg', 'jpeg'],
  'image/png': ['png'],
  'image/webp': ['webp'],
  'image/tiff': ['tif', 'tiff'],
};

async function serveOriginal(req: Request, res: Response, deps: ApiDeps, id: string, ext: string, cacheControl: string): Promise<void> {
  const object = await deps.s3.getStream(imageKeys.original(id)).catch((err: unknown) => {
    throw err instanceof NotFoundError ? new NotFoundError(`original of image ${id} (not stored yet)`) : err;
  });
  const type = object.contentType ?? 'application/octet-stream';
  const allowed = ORIGINAL_EXTENSIONS[type] ?? [];
  if (!allowed.includes(ext)) {
    object.stream.destroy();
    throw new BadRequestError(`the original is ${type}: ask for .${allowed[0] ?? 'bin'}`);
  }
  const etag = object.etag.startsWith('"') ? object.etag : `"${object.etag}"`;
  res.set({
    'Content-Type': type,
    'Cache-Control': cacheControl,
    ETag: etag,
    // A download, never rendered in our origin's context, whatever the bytes claim to be.
    'Content-Disposition': `attachment; filename="${id}.${ext}"`,
    'X-Content-Type-Options': 'nosniff',
  });
  if (matches(req, etag)) {
    object.stream.destroy();
    res.status(304).end();
    return;
  }
  res.set('Content-Length', String(object.size));
  await sendStream(res, object.stream);
}

async function sendStream(res: Response, stream: NodeJS.ReadableStream): Promise<void> {
  try {
    await pipeline(stream, res);
  } catch {
    // The client hung up: nothing to answer.
    res.destroy();
  }
}

function matches(req: Request, etag: string): boolean {
  const header = req.headers['if-none-match'];
  if (header === undefined) return false;
  const bare = (t: string) => t.trim().replace(/^W\//, '');
  return header.trim() === '*' || header.split(',').some((t) => bare(t) === bare(etag));
}
