/** /api/v1/images: submit, read, list and delete images. */
import express, { Router } from 'express';
import type { Queue } from 'bullmq';
import { z } from 'zod';
import { BadRequestError, NotFoundError } from '../../../shared/errors.js';
import { imageKeys } from '../../../shared/image-status.js';
import type { TileJobData } from '../../../shared/queue.js';
import { decodeCursor } from '../../../shared/status-store.js';
import { createImage } from '../create-image.js';
import { annotationsFor } from '../annotations.js';
import type { ApiDeps } from '../deps.js';
import { parseImageId } from '../image-id.js';
import { parseTag, tagsSchema, titleSchema } from '../image-meta.js';
import { toImageView } from '../image-view.js';
import type { OpenStreams } from '../open-streams.js';
import { scalingFor } from '../scaling.js';
import { streamImageEvents } from './events.js';
import { requires } from '../access/requires.js';

const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(200).optional(),
  tag: z.string().min(1).max(50).optional(),
});

const metaPatch = z.strictObject({ title: titleSchema.nullable().optional(), tags: tagsSchema.optional() });

export function imagesRouter(deps: ApiDeps, streams: OpenStreams): Router {
  const router = Router();
  // Status changes by the second: never cache API answers.
  router.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });

  router.post('/', requires('write'), express.json({ limit: '16kb' }), (req, res) => createImage(req, res, deps));

  router.get('/', requires('anyone'), async (req, res) => {
    const parsed = listQuery.safeParse(req.query);
    if (!parsed.success) throw new BadRequestError(`invalid query: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
    const { limit, cursor, tag } = parsed.data;
    if (cursor !== undefined && decodeCursor(cursor) === null) throw new BadRequestError('invalid cursor');
    const filter = tag === undefined ? {} : { tags: parseTag(tag) };
    const page = await deps.store.list({ limit, cursor: cursor ?? null, filter });
    res.json({ items: page.items.map((doc) => toImageView(doc, deps.config)), nextCursor: page.nextCursor });
  });

  router.get('/:id', requires('anyone'), async (req, res) => {
    const id = parseImageId(req.params.id);
    const doc = await deps.store.get(id);
    if (!doc) throw new NotFoundError(`image ${id}`);
    res.json(toImageView(doc, deps.config));
  });

  /** Title and tags only; `tags` replaces the whole list, `title: null` clears it. */
  router.patch('/:id', requires('write'), express.json({ limit: '16kb' }), async (req, res) => {
    const id = parseImageId(req.params.id);
    const parsed = metaPatch.safeParse(req.body ?? {});
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      throw new BadRequestError(`invalid body: ${first ? `${first.path.join('.') || 'body'}: ${first.message}` : 'expected {"title"?, "tags"?}'}`);
    }
    const set: Record<string, unknown> = {};
    if (parsed.data.title !== undefined) set.title = parsed.data.title;
    if (parsed.data.tags !== undefined) set.tags = parsed.data.tags;
    const doc = Object.keys(set).length > 0 ? await deps.store.update(id, set) : await deps.store.get(id);
    if (!doc) throw new NotFoundError(`image ${id}`);
    res.json(toImageView(doc, deps.config));
  });

  router.get('/:id/events', requires('anyone'), (req, res) => streamImageEvents(req, res, deps, streams));

  router.delete('/:id', requires('write'), async (req, res) => {
    const id = parseImageId(req.params.id);
    const doc = await deps.store.get(id);
    if (!doc) throw new NotFoundError(`image ${id}`);
    const jobRemoved = await removeJob(deps.queue, id);
    if (!jobRemoved) deps.logger.info({ id }, 'job is running; its worker finds the status document gone and discards its result');
    // Objects before the document: if S3 fails, the client can retry the DELETE.
    await deps.s3.deletePrefix(imageKeys.prefix(id));
    await deps.s3.deletePrefix(imageKeys.work(id));
    await deps.s3.deleteKey(imageKeys.original(id));
    await (await annotationsFor(deps)).deleteAll(id);
    await deps.store.delete(id);
    scalingFor(deps).cache.purge(`${id}/`);
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
