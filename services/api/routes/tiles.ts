/**
 * /tiles/:id/...: the API as CDN origin for the tile pyramid (used when
 * PUBLIC_BASE_URL is not set, and always for private images). Only four shapes
 * of path exist and every parameter is checked against a strict pattern, so no
 * request can name any other key (originals stay private). Each request asks
 * the access layer whether the caller may read the image: a private image's
 * tiles are 404 to others and carry `Cache-Control: private` for its owner.
 */
import { Router, type Request, type Response } from 'express';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { NotFoundError } from '../../../shared/errors.js';
import { imageKeys } from '../../../shared/image-status.js';
import type { S3Store } from '../../../shared/storage/s3-store.js';
import type { ApiDeps } from '../deps.js';
import { imageAccess, visibilityOf } from '../access/image-access.js';
import type { Logger } from '../../../shared/logger.js';
import { isImageId } from '../image-id.js';
import { requires } from '../access/requires.js';

const LEVEL = /^\d{1,2}$/;
const TILE = /^\d{1,7}_\d{1,7}\.(jpeg|jpg|png|webp)$/;

interface ObjectInfo {
  size: number;
  etag: string;
  contentType?: string | undefined;
}

export function tilesRouter(deps: ApiDeps): Router {
  const router = Router();
  const { s3, logger } = deps;
  const access = imageAccess(deps);
  /** Readable by this caller, else 404 (thrown); true when the image is private (no shared caches). */
  const checkAccess = async (req: Request, id: string | undefined): Promise<boolean> => {
    if (!isImageId(id)) throw new NotFoundError('tile');
    const doc = await access.readable(req.principal, id);
    return visibilityOf(doc) === 'private';
  };
  const serve = (key: (id: string) => string) => async (req: Request, res: Response) => {
    const id = req.params.id as string | undefined;
    const isPrivate = await checkAccess(req, id);
    await serveObject(req, res, s3, key(id!), logger, isPrivate);
  };

  router.get('/:id/image.dzi', requires('anyone'), serve(imageKeys.descriptor));
  router.get('/:id/thumbnail.jpg', requires('anyone'), serve(imageKeys.thumbnail));
  router.get('/:id/preview.jpg', requires('anyone'), serve(imageKeys.preview));
  router.get('/:id/image_files/:level/:tile', requires('anyone'), async (req, res) => {
    const { id, level, tile } = req.params;
    if (!isImageId(id) || !LEVEL.test(level ?? '') || !TILE.test(tile ?? '')) throw new NotFoundError('tile');
    const isPrivate = await checkAccess(req, id);
    await serveObject(req, res, s3, `${imageKeys.prefix(id)}image_files/${level}/${tile}`, logger, isPrivate);
  });
  // Anything else under /tiles, traversal attempts included, is simply not there.
  router.use((req) => {
    throw new NotFoundError(`tile path ${req.path}`);
  });
  return router;
}

async function serveObject(req: Request, res: Response, s3: S3Store, key: string, logger: Logger, isPrivate: boolean): Promise<void> {
  if (!isPrivate) res.set('Access-Control-Allow-Origin', '*');
  // A revalidation or HEAD needs only the metadata: no body is fetched from S3.
  if (req.headers['if-none-match'] !== undefined || req.method === 'HEAD') {
    const head = await s3.head(key);
    if (!head) throw new NotFoundError('tile');
    setObjectHeaders(res, head, isPrivate);
    if (notModified(req, head.etag)) {
      res.status(304).end();
      return;
    }
    if (req.method === 'HEAD') {
      res.status(200).end();
      return;
    }
  }
  const object = await s3.getStream(key);
  setObjectHeaders(res, object, isPrivate);
  if (notModified(req, object.etag)) {
    object.stream.destroy();
    res.status(304).end();
    return;
  }
  res.status(200);
  try {
    await pipeline(object.stream as Readable, res);
  } catch (err) {
    // The client hanging up mid-tile is normal; anything else is worth a line.
    if ((err as { code?: unknown }).code !== 'ERR_STREAM_PREMATURE_CLOSE') logger.warn({ err, key }, 'tile stream failed');
    res.destroy();
  }
}

/**
 * If-None-Match with weak comparison (RFC 9110 13.1.2). Not express's req.fresh:
 * that ignores validators when the request says Cache-Control: no-cache, which
 * fetch() adds to any request carrying its own If-None-Match; an origin should still 304.
 */
function notModified(req: Request, etag: string): boolean {
  const header = req.headers['if-none-match'];
  if (header === undefined || etag === '') return false;
  if (header.trim() === '*') return true;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  const ours = opaque(quoted(etag));
  return header.split(',').some((tag) => opaque(tag) === ours);
}

const quoted = (etag: string) => (etag.startsWith('"') || etag.startsWith('W/') ? etag : `"${etag}"`);

function setObjectHeaders(res: Response, info: ObjectInfo, isPrivate: boolean): void {
  res.set({
    'Content-Type': info.contentType ?? 'application/octet-stream',
    'Content-Length': String(info.size),
    // Tiles of an id never change (a re-tiled image gets a new id); a private image's only in the owner's browser.
    'Cache-Control': isPrivate ? 'private, max-age=3600' : 'public, max-age=31536000, immutable',
    ETag: quoted(info.etag),
  });
}
