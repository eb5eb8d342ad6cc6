/**
 * POST /api/v1/images: an upload (multipart/form-data, streamed to S3) or a URL
 * (application/json, fetched later by the worker). Either way the result is a
 * status document plus a queued job; the API itself never decodes or tiles.
 *
 * Uploads are content-addressed per owner: the bytes go to `uploads/{random}`
 * while being hashed, then move to `originals/{id}` with id derived from the
 * owner and the SHA-256 (ownedImageId). The same bytes again from the same
 * owner answer 200 with the existing image (title replaced if given, tags
 * merged) and are not tiled again; from another owner they are another image,
 * so nobody learns or reuses someone else's id by uploading the same file.
 * URL submissions keep a random id: their bytes are only seen by the worker.
 * Quotas (bytes, images) are checked before anything is kept.
 */
import { randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { BadRequestError, TransientError, UnauthenticatedError, UploadTooLargeError } from '../../shared/errors.js';
import { imageKeys, newImageDoc, type ImageDoc, type ImageSource } from '../../shared/image-status.js';
import { enqueueTileJob } from '../../shared/queue.js';
import { assertUrlAllowed } from '../../shared/net/safe-fetch.js';
import type { ApiDeps } from './deps.js';
import { newImageId, ownedImageId } from './image-id.js';
import { mergeTags, parseTagsField, parseTitle, parseVisibility, tagsSchema, titleSchema, visibilitySchema } from './image-meta.js';
import type { Visibility } from './access/image-access.js';
import { auditFrom } from './access/audit.js';
import { ownerName } from './access/principal.js';
import { quotaFor } from './access/upload-quota.js';
import { apiPath, imageLinks } from './image-view.js';
import { moveObject } from './move-object.js';
import { receiveUpload } from './receive-upload.js';
import { requestIdOf } from './request-id.js';

export const urlSubmission = z.strictObject({
  url: z.string().min(1).max(2048),
  title: titleSchema.nullish(),
  tags: tagsSchema.optional(),
  visibility: visibilitySchema.optional(),
});

/** Who the new image belongs to and who may see it. */
export interface Ownership {
  owner: string;
  visibility: Visibility;
}

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
  const quota = await quotaFor(deps, req.principal);
  try {
    quota.assert({ images: 1, bytes: Number.isFinite(declared) ? Math.max(0, declared - 64 * 1024) : 0 });
  } catch (err) {
    res.set('Connection', 'close');
    throw err;
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
  let ownership: Ownership;
  try {
    title = parseTitle(upload.title);
    tags = parseTagsField(upload.tags);
    ownership = { owner: ownerOf(req), visibility: parseVisibility(upload.visibility, deps.config.defaultVisibility) };
    quota.assert({ images: 1, bytes: upload.bytes });
  } catch (err) {
    await dropTemp();
    throw err;
  }
  const id = ownedImageId(ownership.owner, upload.sha256);
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
    await registerImage(deps, id, source, title, tags, ownership, { reqId: requestIdOf(req) });
  } catch (err) {
    // Lost a race with the same bytes uploaded at the same moment: theirs stands (and the original is identical).
    const winner = isDuplicateKey(err) ? await deps.store.get(id) : null;
    if (winner) return sameBytesAgain(res, deps, winner, title, tags);
    await deps.s3.deleteKey(imageKeys.original(id)).catch((e: unknown) => deps.logger.warn({ err: e, id }, 'could not delete refused original'));
    throw err;
  }
  await audit(req, deps, id, 'upload');
  accepted(res, deps, id);
}

async function createFromUrl(req: Request, res: Response, deps: ApiDeps, id: string): Promise<void> {
  const parsed = urlSubmission.safeParse(req.body);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new BadRequestError(`invalid body: ${first ? `${first.path.join('.') || 'body'}: ${first.message}` : 'expected {"url": "..."}'}`);
  }
  (await quotaFor(deps, req.principal)).assert({ images: 1 });
  const url = await assertUrlAllowed(parsed.data.url, { allowHosts: deps.config.fetchAllowHosts });
  const ownership: Ownership = { owner: ownerOf(req), visibility: parsed.data.visibility ?? deps.config.defaultVisibility };
  await registerImage(deps, id, { kind: 'url', url: url.href }, parsed.data.title ?? null, parsed.data.tags ?? [], ownership, { reqId: requestIdOf(req) });
  await audit(req, deps, id, 'url');
  accepted(res, deps, id);
}

/** The principal's name: uploads are declared `requires('write')`, so there is always one. */
function ownerOf(req: Request): string {
  const name = ownerName(req.principal);
  if (name === null) throw new UnauthenticatedError();
  return name;
}

function audit(req: Request, deps: ApiDeps, id: string, source: string): Promise<void> {
  return auditFrom(deps)(req, 'image.create', `image:${id}`, { detail: { source } });
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
  tags: string[],
  ownership: Ownership,
  opts: { reqId?: string | undefined } = {},
): Promise<void> {
  await deps.store.create({ ...newImageDoc(id, source, title, new Date(), tags), owner: ownership.owner, visibility: ownership.visibility });
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
