/** /api/v1/images: submit, read, list and delete images. */
import express, { Router } from 'express';
import type { Queue } from 'bullmq';
import { z } from 'zod';
import { BadRequestError, ConflictError, NotFoundError } from '../../../shared/errors.js';
import { requeueFailedImage } from '../../../shared/requeue-image.js';
import { retagImageObjects } from '../../../shared/storage/s3-setup.js';
import { imageKeys, type ImageState } from '../../../shared/image-status.js';
import type { TileJobData } from '../../../shared/queue.js';
import { decodeCursor } from '../../../shared/status-store.js';
import { createImage } from '../create-image.js';
import { annotationsFor } from '../annotations.js';
import type { ApiDeps } from '../deps.js';
import { parseImageId } from '../image-id.js';
import { parseTag, tagsSchema, titleSchema, visibilitySchema } from '../image-meta.js';
import { imageAccess, listingFilter, visibilityOf } from '../access/image-access.js';
import { auditFrom } from '../access/audit.js';
import { apiPath, toImageView } from '../image-view.js';
import type { OpenStreams } from '../open-streams.js';
import { scalingFor } from '../scaling.js';
import { streamImageEvents } from './events.js';
import { requires } from '../access/requires.js';

export const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(200).optional(),
  tag: z.string().min(1).max(50).optional(),
  /** 1: the caller's own images, every visibility. */
  mine: z.enum(['0', '1', 'true', 'false']).optional(),
});

export const metaPatch = z.strictObject({
  title: titleSchema.nullable().optional(),
  tags: tagsSchema.optional(),
  visibility: visibilitySchema.optional(),
  downloadable: z.boolean().optional(),
});

export function imagesRouter(deps: ApiDeps, streams: OpenStreams): Router {
  const router = Router();
  const access = imageAccess(deps);
  const audit = auditFrom(deps);
  // Status changes by the second: never cache API answers.
  router.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });

  router.post('/', requires('write'), express.json({ limit: '16kb' }), (req, res) => createImage(req, res, deps));

  router.get('/', requires('anyone'), async (req, res) => {
    const parsed = listQuery.safeParse(req.query);
    if (!parsed.success) throw new BadRequestError(`invalid query: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
    const { limit, cursor, tag, mine } = parsed.data;
    if (cursor !== undefined && decodeCursor(cursor) === null) throw new BadRequestError('invalid cursor');
    const visible = listingFilter(req.principal, { mine: mine === '1' || mine === 'true' });
    const filter = tag === undefined ? visible : { $and: [visible, { tags: parseTag(tag) }] };
    const page = await deps.store.list({ limit, cursor: cursor ?? null, filter });
    res.json({ items: page.items.map((doc) => toImageView(doc, deps.config, req.principal)), nextCursor: page.nextCursor });
  });

  router.get('/:id', requires('anyone'), async (req, res) => {
    const doc = await access.readable(req.principal, parseImageId(req.params.id));
    res.json(toImageView(doc, deps.config, req.principal));
  });

  /** Title, tags, visibility, downloadable; `tags` replaces the whole list, `title: null` clears it. */
  router.patch('/:id', requires('write'), express.json({ limit: '16kb' }), async (req, res) => {
    const id = parseImageId(req.params.id);
    const parsed = metaPatch.safeParse(req.body ?? {});
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      throw new BadRequestError(`invalid body: ${first ? `${first.path.join('.') || 'body'}: ${first.message}` : 'expected {"title"?, "tags"?, "visibility"?, "downloadable"?}'}`);
    }
    const current = await access.writable(req.principal, id);
    const set: Record<string, unknown> = {};
    for (const field of ['title', 'tags', 'visibility', 'downloadable'] as const) {
      if (parsed.data[field] !== undefined) set[field] = parsed.data[field];
    }
    // The objects' tags decide what S3 serves anonymously (shared/storage/s3-setup.ts): made private
    // there before the status says so, made public there only after.
    const newVisibility = parsed.data.visibility !== undefined && parsed.data.visibility !== visibilityOf(current) ? parsed.data.visibility : undefined;
    // A job tags every object it stores with the visibility it read when it started: changed while it
    // cuts, the tiles stored after the re-tag would carry the old one (a private image's tiles public).
    // A queued image may change: its job reads the visibility in the same write that starts it.
    const settled: ImageState[] = ['queued', 'done', 'failed'];
    const beingCut = () => new ConflictError(`image ${id} is being cut: its visibility can change once it is done (or delete it)`);
    if (newVisibility !== undefined && !settled.includes(current.status)) throw beingCut();
    if (newVisibility === 'private') await retagImageObjects(deps.s3, id, newVisibility);
    const doc = Object.keys(set).length === 0 ? current
      : newVisibility !== undefined ? await deps.store.transition(id, settled, set) : await deps.store.update(id, set);
    if (!doc && newVisibility !== undefined && (await deps.store.get(id))) {
      // Its job started in between: the objects go back to the visibility it will tag with.
      if (newVisibility === 'private') await retagImageObjects(deps.s3, id, visibilityOf(current));
      throw beingCut();
    }
    if (!doc) throw new NotFoundError(`image ${id}`);
    if (newVisibility !== undefined && newVisibility !== 'private') await retagImageObjects(deps.s3, id, newVisibility);
    if (newVisibility !== undefined) {
      // Renders of a now-private image must not outlive the change in a shared cache path.
      scalingFor(deps).cache.purge(`${id}/`);
    }
    if (Object.keys(set).length > 0) await audit(req, 'image.update', `image:${id}`, { detail: { fields: Object.keys(set) } });
    res.json(toImageView(doc, deps.config, req.principal));
  });

  router.get('/:id/events', requires('anyone'), (req, res) => streamImageEvents(req, res, deps, streams));

  /** A failed image queued again (after its cause was fixed: the database, S3 or a full disk); 409 unless it failed. */
  router.post('/:id/retry', requires('write'), async (req, res) => {
    const id = parseImageId(req.params.id);
    await imageAccess(deps).writable(req.principal, id);
    const doc = await requeueFailedImage(deps, id);
    if (!doc) throw new ConflictError(`image ${id} has not failed: only a failed image can be retried`);
    res.status(202).location(apiPath.image(id)).json(toImageView(doc, deps.config));
  });

  router.delete('/:id', requires('write'), async (req, res) => {
    const id = parseImageId(req.params.id);
    await access.writable(req.principal, id);
    const jobRemoved = await removeJob(deps.queue, id);
    if (!jobRemoved) deps.logger.info({ id }, 'job is running; its worker finds the status document gone and discards its result');
    // Objects before the document: if S3 fails, the client can retry the DELETE.
    await deps.s3.deletePrefix(imageKeys.prefix(id));
    await deps.s3.deletePrefix(imageKeys.work(id));
    await deps.s3.deleteKey(imageKeys.original(id));
    await (await annotationsFor(deps)).deleteAll(id);
    await deps.store.delete(id);
    scalingFor(deps).cache.purge(`${id}/`);
    await audit(req, 'image.delete', `image:${id}`);
    res.status(204).end();
  });

  return router;
}

/** False when a worker holds the job (BullMQ will not remove a locked job). */
async function removeJob(queue: Queue<TileJobData>, id: string): Promise<boolean> {
  const job = await queue.getJob(id);
  if (!job) return true;
  return (await queue.remove(id)) === 1;
}
