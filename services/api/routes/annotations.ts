/**
 * /api/v1/images/:id/annotations: the shapes people draw on an image, in
 * image pixel coordinates (see shared/annotations-store.ts).
 *
 *   GET    /?limit=&cursor=  {items: Annotation[], next: cursor|null}, in creation order, 100 a page (at most 200)
 *   GET    /?format=w3c      the same page as a W3C AnnotationPage (services/api/w3c-annotations.ts), `next` a URL
 *   POST   /                 {type, points, radius?, title?, comment?} -> 201 Annotation
 *   POST   /                 a W3C AnnotationPage -> 201 {items: Annotation[]} (imported, all or none)
 *   PATCH  /:annotationId    {points?, radius?, title?, comment?}     -> Annotation (the type never changes)
 *   DELETE /:annotationId    204
 *
 * Reading needs read access to the image (private images are 404 to others);
 * writing needs the owner or an admin (image-access.ts).
 */
import express, { Router, type Request } from 'express';
import { z } from 'zod';
import {
  annotationGeometry,
  annotationText,
  decodeCursor,
  encodeCursor,
  MAX_ANNOTATIONS_PER_IMAGE,
  MAX_COMMENT_CHARS,
  MAX_PAGE_SIZE,
  MAX_TITLE_CHARS,
  toAnnotationView,
  type AnnotationGeometry,
} from '../../../shared/annotations-store.js';
import { BadRequestError, NotFoundError } from '../../../shared/errors.js';
import { annotationsFor } from '../annotations.js';
import type { ApiDeps } from '../deps.js';
import { parseImageId } from '../image-id.js';
import { publicOrigin } from '../public-url.js';
import { requires } from '../access/requires.js';
import { imageAccess } from '../access/image-access.js';
import { canvasIdOf } from '../presentation.js';
import { ANNO_CONTEXT, fromW3cPage, isW3cPage, toW3cAnnotation, type W3cAnnotationPage } from '../w3c-annotations.js';

export const ANNOTATION_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** One shape of MAX_POINTS points with its texts fits; an import page holds many. */
const JSON_TYPES = ['application/json', 'application/ld+json', 'application/*+json'];
const oneAnnotationBody = express.json({ limit: '96kb', type: JSON_TYPES });
const importBody = express.json({ limit: '2mb', type: JSON_TYPES });

export const patchBody = z.strictObject({
  points: z.array(z.tuple([z.number(), z.number()])).optional(),
  radius: z.number().optional(),
  title: z.string().trim().max(MAX_TITLE_CHARS).optional(),
  comment: z.string().trim().max(MAX_COMMENT_CHARS).optional(),
});

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).optional(),
  cursor: z.string().max(200).optional(),
  format: z.enum(['w3c', 'hugemap']).optional(),
});

function invalid(error: z.ZodError, what = 'annotation'): BadRequestError {
  const first = error.issues[0];
  return new BadRequestError(`invalid ${what}: ${first ? `${first.path.join('.') || 'body'}: ${first.message}` : 'bad body'}`);
}

export function annotationsRouter(deps: ApiDeps): Router {
  const router = Router({ mergeParams: true });
  const store = () => annotationsFor(deps);
  const imageIdOf = (req: Request) => parseImageId((req.params as Record<string, string>).id);

  /**
   * The image must exist and be readable by the caller (a private image's annotations are 404 to
   * others); writing needs its owner or an admin: comments by others are not taken (docs/access.md).
   */
  const readableImage = async (req: Request) => (await imageAccess(deps).readable(req.principal, imageIdOf(req)))._id;
  const writableImage = async (req: Request) => (await imageAccess(deps).writable(req.principal, imageIdOf(req)))._id;

  function annotationIdOf(req: Request): string {
    const id = (req.params as Record<string, string>).annotationId;
    if (!id || !ANNOTATION_ID.test(id)) throw new BadRequestError('malformed annotation id');
    return id;
  }

  async function ensureRoom(imageId: string, adding: number): Promise<void> {
    const count = await (await store()).count(imageId);
    if (count + adding > MAX_ANNOTATIONS_PER_IMAGE) {
      throw new BadRequestError(`an image holds at most ${MAX_ANNOTATIONS_PER_IMAGE} annotations (it has ${count}; this adds ${adding})`);
    }
  }

  router.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });

  router.get('/', requires('anyone'), async (req, res) => {
    const imageId = await readableImage(req);
    const query = listQuery.safeParse(req.query);
    if (!query.success) throw invalid(query.error, 'query');
    const { limit, cursor, format } = query.data;
    const after = cursor === undefined ? null : decodeCursor(cursor);
    if (cursor !== undefined && !after) throw new BadRequestError('malformed cursor: pass back the "next" of the previous page');
    const page = await (await store()).list(imageId, { limit, after });
    const next = page.next && encodeCursor(page.next);
    if (format !== 'w3c') {
      res.json({ items: page.items.map(toAnnotationView), next });
      return;
    }
    const origin = publicOrigin(req, deps.config);
    const listUrl = `${origin}/api/v1/images/${imageId}/annotations`;
    const pageUrl = (c: string | null) => {
      const params = new URLSearchParams({ format: 'w3c' });
      if (limit !== undefined) params.set('limit', String(limit));
      if (c) params.set('cursor', c);
      return `${listUrl}?${params}`;
    };
    const body: W3cAnnotationPage = {
      '@context': ANNO_CONTEXT,
      id: pageUrl(cursor ?? null),
      type: 'AnnotationPage',
      items: page.items.map((a) => toW3cAnnotation(a, canvasIdOf(origin, imageId), `${listUrl}/${a._id}`)),
    };
    if (next) body.next = pageUrl(next);
    res.type('application/ld+json; profile="http://www.w3.org/ns/anno.jsonld"').send(JSON.stringify(body));
  });

  router.post('/', requires('write'), importBody, async (req, res) => {
    const imageId = await writableImage(req);
    const annotations = await store();
    if (isW3cPage(req.body)) {
      const items = fromW3cPage(req.body, MAX_ANNOTATIONS_PER_IMAGE);
      await ensureRoom(imageId, items.length);
      const docs = await annotations.createMany(imageId, items);
      res.status(201).json({ items: docs.map(toAnnotationView) });
      return;
    }
    const body = (req.body ?? {}) as Record<string, unknown>;
    const { title, comment, ...shape } = body;
    const geometry = annotationGeometry.safeParse(shape);
    if (!geometry.success) throw invalid(geometry.error);
    const text = annotationText.safeParse({ title, comment });
    if (!text.success) throw invalid(text.error);
    await ensureRoom(imageId, 1);
    const doc = await annotations.create(imageId, geometry.data, text.data);
    res.status(201).location(`${req.baseUrl}/${doc._id}`).json(toAnnotationView(doc));
  });

  router.patch('/:annotationId', requires('write'), oneAnnotationBody, async (req, res) => {
    const imageId = await writableImage(req);
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
    const imageId = await writableImage(req);
    const id = annotationIdOf(req);
    if (!(await (await store()).delete(imageId, id))) throw new NotFoundError(`annotation ${id}`);
    res.status(204).end();
  });

  return router;
}
