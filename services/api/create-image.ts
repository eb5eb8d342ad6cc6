/**
 * POST /api/v1/images: an upload (multipart/form-data, streamed to S3) or a URL
 * (application/json, fetched later by the worker). Either way the result is a
 * status document plus a queued job; the API itself never decodes or tiles.
 */
import type { Request, Response } from 'express';
import { z } from 'zod';
import { BadRequestError, TransientError, UploadTooLargeError } from '../../shared/errors.js';
import { imageKeys, newImageDoc, type ImageSource } from '../../shared/image-status.js';
import { enqueueTileJob } from '../../shared/queue.js';
import { assertUrlAllowed } from '../../shared/net/safe-fetch.js';
import type { ApiDeps } from './deps.js';
import { newImageId } from './image-id.js';
import { apiPath, imageLinks } from './image-view.js';
import { receiveUpload } from './receive-upload.js';

const titleSchema = z
  .string()
  .trim()
  .max(200, 'title must be at most 200 characters')
  .transform((t) => (t === '' ? null : t));

const urlSubmission = z.strictObject({
  url: z.string().min(1).max(2048),
  title: titleSchema.nullish(),
});

export async function createImage(req: Request, res: Response, deps: ApiDeps): Promise<void> {
  const id = newImageId();
  if (req.is('multipart/form-data')) {
    await createFromUpload(req, res, deps, id);
  } else if (req.is('application/json')) {
    await createFromUrl(req, res, deps, id);
  } else {
    throw new BadRequestError('send multipart/form-data with a "file" field, or application/json {"url": "..."}');
  }
}

async function createFromUpload(req: Request, res: Response, deps: ApiDeps, id: string): Promise<void> {
  const { maxUploadBytes } = deps.config;
  // Refuse what is plainly too big before reading a byte (multipart framing adds a little).
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxUploadBytes + 64 * 1024) {
    res.set('Connection', 'close');
    throw new UploadTooLargeError(maxUploadBytes);
  }
  const key = imageKeys.original(id);
  let upload;
  try {
    upload = await receiveUpload(req, { s3: deps.s3, key, maxBytes: maxUploadBytes });
  } catch (err) {
    // The body was not read to the end: do not offer this connection for reuse.
    if (!req.complete) res.set('Connection', 'close');
    throw err;
  }
  try {
    const title = parseTitle(upload.title);
    const source: ImageSource = { kind: 'upload', contentType: upload.contentType, bytes: upload.bytes };
    if (upload.filename !== undefined) source.filename = upload.filename;
    await register(deps, id, source, title);
  } catch (err) {
    await deps.s3.deleteKey(key).catch((e: unknown) => deps.logger.warn({ err: e, id }, 'could not delete refused original'));
    throw err;
  }
  accepted(res, deps, id);
}

async function createFromUrl(req: Request, res: Response, deps: ApiDeps, id: string): Promise<void> {
  const parsed = urlSubmission.safeParse(req.body);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new BadRequestError(`invalid body: ${first ? `${first.path.join('.') || 'body'}: ${first.message}` : 'expected {"url": "..."}'}`);
  }
  const url = await assertUrlAllowed(parsed.data.url, { allowHosts: deps.config.fetchAllowHosts });
  await register(deps, id, { kind: 'url', url: url.href }, parsed.data.title ?? null);
  accepted(res, deps, id);
}

function parseTitle(raw: string | null): string | null {
  if (raw === null) return null;
  const parsed = titleSchema.safeParse(raw);
  if (!parsed.success) throw new BadRequestError(parsed.error.issues[0]?.message ?? 'invalid title');
  return parsed.data;
}

/** Status document first, then the job: a worker never sees a job without its document. */
async function register(deps: ApiDeps, id: string, source: ImageSource, title: string | null): Promise<void> {
  await deps.store.create(newImageDoc(id, source, title));
  try {
    await enqueueTileJob(deps.queue, id);
  } catch (err) {
    await deps.store.delete(id).catch(() => false);
    throw new TransientError('HUGEMAP_ERR_QUEUE_UNAVAILABLE', 'could not queue the job; try again later', err);
  }
}

function accepted(res: Response, deps: ApiDeps, id: string): void {
  const { self, events, dzi, thumbnail } = imageLinks(id, false, deps.config);
  res.status(202).location(apiPath.image(id)).json({ id, status: 'queued', links: { self, events, dzi, thumbnail } });
}
