/**
 * POST /api/v1/images: an upload (multipart/form-data, streamed to S3) or a URL
 * (application/json, fetched later by the worker). Either way the result is a
 * status document plus a queued job; the API itself never decodes or tiles.
 *
 * Uploads are content-addressed: the bytes go to `uploads/{random}` while being
 * hashed, then move to `originals/{id}` with id = SHA-256 prefix. The same bytes
 * again answer 200 with the existing image (title replaced if given, tags
 * merged) and are not tiled again. URL submissions keep a random id: their
 * bytes are only seen by the worker, so they are not de-duplicated.
 */
import { randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { BadRequestError, TransientError, UploadTooLargeError } from '../../shared/errors.js';
import { imageKeys, newImageDoc, type ImageDoc, type ImageSource } from '../../shared/image-status.js';
import { enqueueTileJob } from '../../shared/queue.js';
import { assertUrlAllowed } from '../../shared/net/safe-fetch.js';
import type { ApiDeps } from './deps.js';
import { contentImageId, newImageId } from './image-id.js';
import { mergeTags, parseTagsField, parseTitle, tagsSchema, titleSchema } from './image-meta.js';
import { apiPath, imageLinks } from './image-view.js';
import { moveObject } from './move-object.js';
import { receiveUpload } from './receive-upload.js';
import { requestIdOf } from './request-id.js';

const urlSubmission = z.strictObject({
  url: z.string().min(1).max(2048),
  title: titleSchema.nullish(),
  tags: tagsSchema.optional(),
});

export async function createImage(req: Request, res: Response, deps: ApiDeps): Promise<void> {
  if (req.is('multipart/form-data')) {
    await createFromUpload(req, res, deps);
  } else if (req.is('application/json')) {
    await createFromUrl(req, res, deps, newImageId());
  } else {
    throw new BadRequestError('send multipart/form-data with a "file" field, or application/json {"url": "..."}');
  }
}

async function createFromUpload(req: Request, res: Response, deps: ApiDeps): Promise<void> {
  const { maxUploadBytes } = deps.config;
  // Refuse what is plainly too big before reading a byte (multipart framing adds a little).
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxUploadBytes + 64 * 1024) {
    res.set('Connection', 'close');
    throw new UploadTooLargeError(maxUploadBytes);
  }
  const tempKey = imageKeys.pendingUpload(randomBytes(12).toString('base64url'));
  let upload;
  try {
    upload = await receiveUpload(req, { s3: deps.s3, key: tempKey, maxBytes: maxUploadBytes });
  } catch (err) {
    // The body was not read to the end: do not offer this connection for reuse.
    if (!req.complete) res.set('Connection', 'close');
    throw err;
  }
  deps.metrics?.uploadBytes.inc(upload.bytes);
  const dropTemp = () => deps.s3.deleteKey(tempKey).catch((e: unknown) => deps.logger.warn({ err: e, key: tempKey }, 'could not delete a pending upload'));
  let title: string | null;
  let tags: string[];
  try {
    title = parseTitle(upload.title);
    tags = parseTagsField(upload.tags);
  } catch (err) {
    await dropTemp();
    throw err;
  }
  const id = contentImageId(upload.sha256);
  const existing = await deps.store.get(id);
  if (existing) {
    await dropTemp();
    return sameBytesAgain(res, deps, existing, title, tags);
  }
  try {
    await moveObject(deps.s3, tempKey, imageKeys.original(id), upload.bytes, upload.contentType);
  } catch (err) {
    await dropTemp();
    throw err;
  }
  const source: ImageSource = { kind: 'upload', contentType: upload.contentType, bytes: upload.bytes, sha256: upload.sha256.toString('hex') };
  if (upload.filename !== undefined) source.filename = upload.filename;
  try {
    await registerImage(deps, id, source, title, tags, { reqId: requestIdOf(req) });
  } catch (err) {
    // Lost a race with the same bytes uploaded at the same moment: theirs stands (and the original is identical).
    const winner = isDuplicateKey(err) ? await deps.store.get(id) : null;
    if (winner) return sameBytesAgain(res, deps, winner, title, tags);
    await deps.s3.deleteKey(imageKeys.original(id)).catch((e: unknown) => deps.logger.warn({ err: e, id }, 'could not delete refused original'));
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
  await registerImage(deps, id, { kind: 'url', url: url.href }, parsed.data.title ?? null, parsed.data.tags ?? [], { reqId: requestIdOf(req) });
  accepted(res, deps, id);
}

/**
 * Status document first, then the job: a worker never sees a job without its
 * document. Also used by other ways in (tus uploads) once the original is stored.
 */
export async function registerImage(
  deps: ApiDeps,
  id: string,
  source: ImageSource,
  title: string | null,
  tags: string[] = [],
  opts: { reqId?: string | undefined } = {},
): Promise<void> {
  await deps.store.create(newImageDoc(id, source, title, new Date(), tags));
  try {
    // The request id goes with the job: the worker's log lines for this image carry it.
    await enqueueTileJob(deps.queue, id, opts.reqId);
  } catch (err) {
    await deps.store.delete(id).catch(() => false);
    throw new TransientError('HUGEMAP_ERR_QUEUE_UNAVAILABLE', 'could not queue the job; try again later', err);
  }
}

/** Not tiled again: the new title (if any) replaces the old one, tags are merged. */
async function sameBytesAgain(res: Response, deps: ApiDeps, doc: ImageDoc, title: string | null, tags: string[]): Promise<void> {
  const set: Record<string, unknown> = {};
  if (title !== null && title !== doc.title) set.title = title;
  const merged = mergeTags(doc.tags ?? [], tags);
  if (merged.length !== (doc.tags ?? []).length) set.tags = merged;
  const current = Object.keys(set).length > 0 ? ((await deps.store.update(doc._id, set)) ?? doc) : doc;
  const { self, events, dzi, thumbnail } = imageLinks(doc._id, current.status === 'done', deps.config);
  res
    .status(200)
    .location(apiPath.image(doc._id))
    .json({ id: doc._id, status: current.status, duplicate: true, links: { self, events, dzi, thumbnail } });
}

function accepted(res: Response, deps: ApiDeps, id: string): void {
  const { self, events, dzi, thumbnail } = imageLinks(id, false, deps.config);
  res.status(202).location(apiPath.image(id)).json({ id, status: 'queued', links: { self, events, dzi, thumbnail } });
}

function isDuplicateKey(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 11000;
}
