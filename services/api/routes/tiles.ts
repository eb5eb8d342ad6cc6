/**
 * /tiles/:id/...: the API as CDN origin for the public tile pyramid (used when
 * PUBLIC_BASE_URL is not set). Only four shapes of path exist and every
 * parameter is checked against a strict pattern, so no request can name any
 * other key (originals stay private).
 */
import { Router, type Request, type Response } from 'express';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { NotFoundError } from '../../../shared/errors.js';
import { imageKeys } from '../../../shared/image-status.js';
import type { S3Store } from '../../../shared/storage/s3-store.js';
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

export function tilesRouter(s3: S3Store, logger: Logger): Router {
  const router = Router();
  const serve = (key: (id: string) => string) => async (req: Request, res: Response) => {
    const id = req.params.id;
    if (!isImageId(id)) throw new NotFoundError('tile');
    await serveObject(req, res, s3, key(id), logger);
  };

  router.get('/:id/image.dzi', requires('anyone'), serve(imageKeys.descriptor));
  router.get('/:id/thumbnail.jpg', requires('anyone'), serve(imageKeys.thumbnail));
  router.get('/:id/preview.jpg', requires('anyone'), serve(imageKeys.preview));
  router.get('/:id/image_files/:level/:tile', requires('anyone'), async (req, res) => {
    const { id, level, tile } = req.params;
    if (!isImageId(id) || !LEVEL.test(level ?? '') || !TILE.test(tile ?? '')) throw new NotFoundError('tile');
    await serveObject(req, res, s3, `${imageKeys.prefix(id)}image_files/${level}/${tile}`, logger);
  });
  // Anything else under /tiles, traversal attempts included, is simply not there.
  router.use((req) => {
    throw new NotFoundError(`tile path ${req.path}`);
  });
  return router;
}

async function serveObject(req: Request, res: Response, s3: S3Store, key: string, logger: Logger): Promise<void> {
  res.set('Access-Control-Allow-Origin', '*');
  // A revalidation or HEAD needs only the metadata: no body is fetched from S3.
  if (req.headers['if-none-match'] !== undefined || req.method === 'HEAD') {
    const head = await s3.head(key);
    if (!head) throw new NotFoundError('tile');
    setObjectHeaders(res, head);
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
  setObjectHeaders(res, object);
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

function setObjectHeaders(res: Response, info: ObjectInfo): void {
  res.set({
    'Content-Type': info.contentType ?? 'application/octet-stream',
    'Content-Length': String(info.size),
    // Tiles of an id never change: a re-tiled image gets a new id.
    'Cache-Control': 'public, max-age=31536000, immutable',
    ETag: quoted(info.etag),
  });
}
