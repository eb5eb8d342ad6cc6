/**
 * /api/v1/images/:id/annotations: the shapes people draw on an image, in
 * image pixel coordinates (see shared/annotations-store.ts).
 *
 *   GET    /                 {items: Annotation[]}
 *   POST   /                 {type, points, radius?, title?, comment?} -> 201 Annotation
 *   PATCH  /:annotationId    {points?, radius?, title?, comment?}     -> Annotation (the type never changes)
 *   DELETE /:annotationId    204
 */
import express, { Router, type Request } from 'express';
import { z } from 'zod';
import {
  AnnotationsStore,
  annotationGeometry,
  annotationText,
  MAX_ANNOTATIONS_PER_IMAGE,
  toAnnotationView,
  type AnnotationGeometry,
} from '../../../shared/annotations-store.js';
import { BadRequestError, NotFoundError } from '../../../shared/errors.js';
import { annotationsFor } from '../annotations.js';
import type { ApiDeps } from '../deps.js';
import { parseImageId } from '../image-id.js';
import { imageAccess } from '../access/image-access.js';
import { requires } from '../access/requires.js';

export const ANNOTATION_ID = /^[A-Za-z0-9_-]{1,64}$/;

export const patchBody = z.strictObject({
  points: z.array(z.tuple([z.number(), z.number()])).optional(),
  radius: z.number().optional(),
  title: z.string().trim().max(200).optional(),
  comment: z.string().trim().max(5000).optional(),
});

function invalid(error: z.ZodError): BadRequestError {
  const first = error.issues[0];
  return new BadRequestError(`invalid annotation: ${first ? `${first.path.join('.') || 'body'}: ${first.message}` : 'bad body'}`);
}

export function annotationsRouter(deps: ApiDeps): Router {
  const router = Router({ mergeParams: true });
  const store = () => annotationsFor(deps);
  const access = imageAccess(deps);

  /**
   * The image must exist and be readable by the caller (a private image's annotations are 404 to
   * others); writing needs its owner or an admin: comments by others are not taken (docs/access.md).
   */
  async function imageOf(req: Request, intent: 'read' | 'write' = 'read'): Promise<string> {
    const id = parseImageId((req.params as Record<string, string>).id);
    await (intent === 'read' ? access.readable(req.principal, id) : access.writable(req.principal, id));
    return id;
  }

  function annotationIdOf(req: Request): string {
    const id = (req.params as Record<string, string>).annotationId;
    if (!id || !ANNOTATION_ID.test(id)) throw new BadRequestError('malformed annotation id');
    return id;
  }

  router.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });
  router.use(express.json({ limit: '512kb' }));

  router.get('/', requires('anyone'), async (req, res) => {
    const imageId = await imageOf(req);
    const items = await (await store()).list(imageId);
    res.json({ items: items.map(toAnnotationView) });
  });

  router.post('/', requires('write'), async (req, res) => {
    const imageId = await imageOf(req, 'write');
    const body = (req.body ?? {}) as Record<string, unknown>;
    const { title, comment, ...shape } = body;
    const geometry = annotationGeometry.safeParse(shape);
    if (!geometry.success) throw invalid(geometry.error);
    const text = annotationText.safeParse({ title, comment });
    if (!text.success) throw invalid(text.error);
    const annotations = await store();
    if ((await annotations.count(imageId)) >= MAX_ANNOTATIONS_PER_IMAGE) {
      throw new BadRequestError(`an image holds at most ${MAX_ANNOTATIONS_PER_IMAGE} annotations`);
    }
    const doc = await annotations.create(imageId, geometry.data, text.data);
    res.status(201).location(`${req.baseUrl}/${doc._id}`).json(toAnnotationView(doc));
  });

  router.patch('/:annotationId', requires('write'), async (req, res) => {
    const imageId = await imageOf(req, 'write');
    const id = annotationIdOf(req);
    const parsed = patchBody.safeParse(req.body ?? {});
    if (!parsed.success) throw invalid(parsed.error);
    const annotations = await store();
    const existing = await annotations.get(imageId, id);
    if (!existing) throw new NotFoundError(`annotation ${id}`);
    const { points, radius, title, comment } = parsed.data;
    const patch: { geometry?: AnnotationGeometry; title?: string; comment?: string } = {};
    if (points !== undefined || radius !== undefined) {
      const next = { ...existing.geometry, ...(points !== undefined ? { points } : {}), ...(radius !== undefined ? { radius } : {}) };
      const geometry = annotationGeometry.safeParse(next);
      if (!geometry.success) throw invalid(geometry.error);
      patch.geometry = geometry.data;
    }
    if (title !== undefined) patch.title = title;
    if (comment !== undefined) patch.comment = comment;
    const doc = await annotations.update(imageId, id, patch);
    if (!doc) throw new NotFoundError(`annotation ${id}`);
    res.json(toAnnotationView(doc));
  });

  router.delete('/:annotationId', requires('write'), async (req, res) => {
    const imageId = await imageOf(req, 'write');
    const id = annotationIdOf(req);
    if (!(await (await store()).delete(imageId, id))) throw new NotFoundError(`annotation ${id}`);
    res.status(204).end();
  });

  return router;
}
