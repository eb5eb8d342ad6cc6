/** /api/v1/images/{id}/annotations: shapes drawn on an image, in image pixel coordinates. */
import type { RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { annotationGeometry, annotationText } from '../../../../shared/annotations-store.js';
import { ANNOTATION_ID, patchBody } from '../../routes/annotations.js';
import { access, errors, imageParams, json, jsonBody, noContent } from '../responses.js';
import { annotationList, annotationView, w3cAnnotationPage } from '../schemas.js';
import { MAX_PAGE_SIZE } from '../../../../shared/annotations-store.js';

/** What POST validates: one of the shapes (annotationGeometry) plus its text (annotationText). */
const annotationCreateBody = z.union(annotationGeometry.options.map((shape) => shape.extend(annotationText.partial().shape)));

const annotationParams = imageParams.extend({ annotationId: z.string().regex(ANNOTATION_ID) });

export const annotationPaths: RouteConfig[] = [
  {
    method: 'get',
    path: '/api/v1/images/{id}/annotations',
    tags: ['annotations'],
    summary: "An image's annotations, a page at a time (ours, or W3C Web Annotations with format=w3c)",
    ...access('anyone'),
    request: {
      params: imageParams,
      query: z.object({
        limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).optional().describe('annotations per page, 100 by default'),
        cursor: z.string().optional().describe('the `next` of the previous page'),
        format: z.enum(['w3c', 'hugemap']).optional().describe('w3c: a W3C AnnotationPage (application/ld+json), `next` the URL of the next page'),
      }),
    },
    responses: {
      200: {
        description: 'One page of the annotations, in creation order.',
        content: { 'application/json': { schema: annotationList }, 'application/ld+json': { schema: w3cAnnotationPage } },
      },
      ...errors(400, 404),
    },
  },
  {
    method: 'post',
    path: '/api/v1/images/{id}/annotations',
    tags: ['annotations'],
    summary: 'Add an annotation (marker, line, rectangle, circle or polygon, with an optional title and comment), or import a W3C AnnotationPage',
    ...access('write'),
    request: {
      params: imageParams,
      body: {
        required: true,
        content: {
          'application/json': { schema: z.union([annotationCreateBody, w3cAnnotationPage]) },
          'application/ld+json': { schema: w3cAnnotationPage },
        },
      },
    },
    responses: {
      201: json('Created (Location names it); for an imported page, {items} with every annotation created.', z.union([annotationView, z.object({ items: z.array(annotationView) })])),
      ...errors(400, 401, 403, 404, 413),
    },
  },
  {
    method: 'patch',
    path: '/api/v1/images/{id}/annotations/{annotationId}',
    tags: ['annotations'],
    summary: 'Move or retitle an annotation (its type never changes)',
    ...access('write'),
    request: { params: annotationParams, body: jsonBody(patchBody) },
    responses: { 200: json('The annotation as changed.', annotationView), ...errors(400, 401, 403, 404) },
  },
  {
    method: 'delete',
    path: '/api/v1/images/{id}/annotations/{annotationId}',
    tags: ['annotations'],
    summary: 'Delete an annotation',
    ...access('write'),
    request: { params: annotationParams },
    responses: { 204: noContent, ...errors(400, 401, 403, 404) },
  },
];
