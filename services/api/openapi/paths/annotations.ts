/** /api/v1/images/{id}/annotations: shapes drawn on an image, in image pixel coordinates. */
import type { RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { annotationGeometry, annotationText } from '../../../../shared/annotations-store.js';
import { ANNOTATION_ID, patchBody } from '../../routes/annotations.js';
import { access, errors, imageParams, json, jsonBody, noContent } from '../responses.js';
import { annotationList, annotationView } from '../schemas.js';

/** What POST validates: one of the shapes (annotationGeometry) plus its text (annotationText). */
const annotationCreateBody = z.union(annotationGeometry.options.map((shape) => shape.extend(annotationText.partial().shape)));

const annotationParams = imageParams.extend({ annotationId: z.string().regex(ANNOTATION_ID) });

export const annotationPaths: RouteConfig[] = [
  {
    method: 'get',
    path: '/api/v1/images/{id}/annotations',
    tags: ['annotations'],
    summary: "An image's annotations",
    ...access('anyone'),
    request: { params: imageParams },
    responses: { 200: json('Every annotation of the image.', annotationList), ...errors(400, 404) },
  },
  {
    method: 'post',
    path: '/api/v1/images/{id}/annotations',
    tags: ['annotations'],
    summary: 'Add an annotation: marker, line, rectangle, circle or polygon, with an optional title and comment',
    ...access('write'),
    request: { params: imageParams, body: jsonBody(annotationCreateBody) },
    responses: { 201: json('Created. Location names it.', annotationView), ...errors(400, 401, 403, 404) },
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
