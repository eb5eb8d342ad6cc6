/**
 * Zod schemas of what the API answers, for the OpenAPI document. Request
 * schemas are not here: they are exported by the route files that validate
 * with them, so the document and the validation share one schema.
 *
 * The answers are built in TypeScript (image-view.ts, annotations-store.ts); the
 * type checks at the bottom fail to compile when a view drops or retypes a
 * field the document promises. Objects are open (extra fields allowed), so a
 * field added to a view is not a contract break, only undocumented until added here.
 */
import { z } from 'zod';
import type { AnnotationView } from '../../../shared/annotations-store.js';
import type { ImageView } from '../image-view.js';
import { IMAGE_ID } from '../image-id.js';

/** `{error:{code,message}}`: every refusal, with a stable code from shared/errors.ts (docs/errors.md). */
export const errorBody = z
  .object({
    error: z.object({
      code: z.string().regex(/^HUGEMAP_ERR_[A-Z_]+$/).meta({ example: 'HUGEMAP_ERR_NOT_FOUND' }),
      message: z.string().meta({ example: 'image AbCdEfGhIjKlMnOpQrStUv not found' }),
    }),
  })
  .meta({ id: 'Error', description: 'The body of every 4xx and 5xx answer.' });

export const imageId = z.string().regex(IMAGE_ID).meta({ description: '22 characters of [A-Za-z0-9_-] (16 for images stored before content ids)', example: 'q1ZyM2QlV9k3kT0s1yXy8A' });

const isoDate = z.string().meta({ format: 'date-time' });

export const imageLinks = z
  .object({
    self: z.string(),
    events: z.string(),
    dzi: z.string().nullable().meta({ description: 'Deep Zoom descriptor, once done' }),
    tiles: z.string(),
    thumbnail: z.string().nullable(),
    preview: z.string().nullable().meta({ description: 'the whole image at the first-view size, JPEG inputs only, before any tile' }),
  })
  .meta({ id: 'ImageLinks' });

export const imageState = z.enum(['queued', 'processing', 'done', 'failed']);

export const imageView = z
  .object({
    id: imageId,
    status: imageState,
    stage: z.enum(['queued', 'fetch', 'probe', 'tile', 'upload', 'done', 'failed']),
    progress: z.number().min(0).max(1),
    title: z.string().nullable(),
    tags: z.array(z.string()),
    filename: z.string().nullable(),
    width: z.number().int().nullable(),
    height: z.number().int().nullable(),
    format: z.enum(['jpeg', 'png', 'webp']).nullable(),
    tileSize: z.number().int(),
    levels: z.number().int().nullable(),
    tiles: z.object({
      done: z.number().int(),
      total: z.number().int(),
      viewable: z.boolean().meta({ description: 'the levels a 1024 px first view needs are all in S3' }),
      firstViewLevel: z.number().int().nullable(),
    }),
    bytes: z.number().int().nullable(),
    parts: z
      .object({ total: z.number().int(), done: z.number().int() })
      .nullable()
      .meta({ description: 'an image cut as bands by several workers (docs/split-jobs.md): its bands, and those finished; null when cut whole' }),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    attempts: z.number().int(),
    createdAt: isoDate,
    updatedAt: isoDate,
    source: z.object({ kind: z.enum(['upload', 'url']), filename: z.string().optional(), url: z.string().optional() }),
    links: imageLinks,
  })
  .meta({ id: 'Image', description: 'An image and where its processing stands (also each event of /events).' });

export const imageList = z
  .object({ items: z.array(imageView), nextCursor: z.string().nullable() })
  .meta({ id: 'ImageList', description: 'Newest first; pass nextCursor as ?cursor= for the next page.' });

/** 202 for a new image, 200 with `duplicate: true` when the same bytes were uploaded before. */
export const imageAccepted = z
  .object({
    id: imageId,
    status: imageState,
    duplicate: z.literal(true).optional(),
    requeued: z.literal(true).optional().meta({ description: 'the same bytes of a failed image: it is queued again' }),
    links: imageLinks.pick({ self: true, events: true, dzi: true, thumbnail: true }),
  })
  .meta({ id: 'ImageAccepted' });

export const imageIdOrNull = z.object({ id: imageId.nullable() }).meta({ id: 'ImageIdOrNull', description: 'null past either end of the listing' });

export const tagCounts = z.object({ tags: z.array(z.object({ tag: z.string(), count: z.number().int() })) }).meta({ id: 'TagCounts' });

export const dimensions = z.object({ width: z.number().int(), height: z.number().int() }).meta({ id: 'Dimensions' });

export const annotationView = z
  .object({
    id: z.string(),
    imageId: imageId,
    type: z.enum(['marker', 'line', 'rectangle', 'circle', 'polygon']),
    points: z.array(z.tuple([z.number(), z.number()])),
    radius: z.number().optional(),
    title: z.string(),
    comment: z.string(),
    createdAt: isoDate,
    updatedAt: isoDate,
  })
  .meta({ id: 'Annotation', description: 'A shape in image pixel coordinates (x right, y down).' });

export const annotationList = z
  .object({
    items: z.array(annotationView),
    next: z.string().nullable().describe('pass as ?cursor= for the next page; null on the last page'),
  })
  .meta({ id: 'AnnotationList', description: 'One page of annotations, in creation order.' });

/** A W3C Web Annotation as services/api/w3c-annotations.ts writes and reads it (docs/iiif.md). */
const w3cAnnotation = z
  .looseObject({
    id: z.string().optional(),
    type: z.literal('Annotation'),
    motivation: z.string().optional(),
    body: z.union([z.looseObject({ type: z.string().optional(), value: z.string(), purpose: z.string().optional() }), z.array(z.unknown())]).optional(),
    target: z.union([z.string(), z.looseObject({ source: z.string().optional(), selector: z.unknown() })]),
  })
  .meta({ id: 'W3cAnnotation', description: 'An Annotation whose target is the image canvas with an SvgSelector or FragmentSelector (pixels).' });

export const w3cAnnotationPage = z
  .looseObject({
    '@context': z.string().optional(),
    id: z.string().optional(),
    type: z.literal('AnnotationPage'),
    items: z.array(w3cAnnotation),
    next: z.string().optional(),
  })
  .meta({ id: 'W3cAnnotationPage', description: 'W3C Web Annotations (http://www.w3.org/ns/anno.jsonld): the image\'s annotations, or a page of them to import.' });

export const health = z.object({ ok: z.boolean() });

export const readiness = z
  .object({
    ok: z.boolean(),
    checks: z.object({ redis: z.string(), mongodb: z.string(), s3: z.string() }),
    error: errorBody.shape.error.optional(),
  })
  .meta({ id: 'Readiness' });

// Compile-time: every view carries at least the documented fields, with the documented types.
type Covers<View, Documented> = View extends Documented ? true : never;
const imageViewDocumented: Covers<ImageView, z.output<typeof imageView>> = true;
const annotationViewDocumented: Covers<AnnotationView, z.output<typeof annotationView>> = true;
void imageViewDocumented;
void annotationViewDocumented;
