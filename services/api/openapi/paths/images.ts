/** /api/v1/images and /api/v1/images/{id}[/events]: submit, read, list, change and delete images. */
import type { RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { urlSubmission } from '../../create-image.js';
import { listQuery, metaPatch } from '../../routes/images.js';
import { access, errors, imageParams, json, jsonBody, noContent } from '../responses.js';
import { imageAccepted, imageList, imageView } from '../schemas.js';

const upload = z.object({
  file: z.string().meta({ format: 'binary', description: 'the image (JPEG, PNG, TIFF, WebP); streamed to S3, never buffered whole' }),
  title: z.string().max(200).optional(),
  tags: z.string().optional().meta({ description: 'comma-separated' }),
});

export const imagePaths: RouteConfig[] = [
  {
    method: 'post',
    path: '/api/v1/images',
    tags: ['images'],
    summary: 'Submit an image: upload a file, or give a URL for the worker to fetch',
    description:
      'Uploads are content-addressed: the same bytes again answer 200 with `duplicate: true` and the same id, and are not tiled again ' +
      '(unless that image failed: then it is queued again, 202 with `requeued: true`). ' +
      'URLs are fetched only from public addresses. Browsers use the resumable tus endpoint, /api/v1/uploads.',
    ...access('write'),
    request: {
      body: {
        required: true,
        content: {
          'multipart/form-data': { schema: upload },
          'application/json': { schema: urlSubmission },
        },
      },
    },
    responses: {
      202: json('Accepted: the job is queued (or, for the same bytes of a failed image, queued again). Location names the image.', imageAccepted),
      200: json('The same bytes were uploaded before: that image (`duplicate: true`).', imageAccepted),
      ...errors(400, 401, 403, 413, 415, 422, 429, 503),
    },
  },
  {
    method: 'get',
    path: '/api/v1/images',
    tags: ['images'],
    summary: 'List images, newest first, with cursor pagination',
    ...access('anyone'),
    request: { query: listQuery },
    responses: { 200: json('One page of images.', imageList), ...errors(400) },
  },
  {
    method: 'get',
    path: '/api/v1/images/{id}',
    tags: ['images'],
    summary: 'An image and where its processing stands',
    ...access('anyone'),
    request: { params: imageParams },
    responses: { 200: json('The image.', imageView), ...errors(400, 404) },
  },
  {
    method: 'patch',
    path: '/api/v1/images/{id}',
    tags: ['images'],
    summary: 'Change the title and tags (`tags` replaces the list, `title: null` clears it)',
    description: 'Also `visibility` and `downloadable`. The visibility cannot change while the image is being cut (409): its job tags the objects it stores with the visibility it started with.',
    ...access('write'),
    request: { params: imageParams, body: jsonBody(metaPatch) },
    responses: { 200: json('The image as changed.', imageView), ...errors(400, 401, 403, 404, 409) },
  },
  {
    method: 'delete',
    path: '/api/v1/images/{id}',
    tags: ['images'],
    summary: 'Delete an image: its tiles, original, annotations and status',
    ...access('write'),
    request: { params: imageParams },
    responses: { 204: noContent, ...errors(400, 401, 403, 404, 503) },
  },
  {
    method: 'post',
    path: '/api/v1/images/{id}/retry',
    tags: ['images'],
    summary: 'Queue a failed image again (the owner or an admin), once the cause of its failure is fixed',
    description: 'Only a failed image can be retried (409 otherwise). Its original is kept when it fails, so it is not uploaded again.',
    ...access('write'),
    request: { params: imageParams },
    responses: { 202: json('Queued again. Location names the image.', imageView), ...errors(400, 401, 403, 404, 409, 503) },
  },
  {
    method: 'get',
    path: '/api/v1/images/{id}/events',
    tags: ['images'],
    summary: 'Server-sent events: the image on every change, until done or failed',
    description: 'Each event is an unnamed `message` whose data is the same JSON as GET /api/v1/images/{id}; the stream ends after a terminal status.',
    ...access('anyone'),
    request: { params: imageParams },
    responses: {
      200: { description: 'An event stream; each `data:` line holds an Image.', content: { 'text/event-stream': { schema: z.string() } } },
      ...errors(400, 404),
    },
  },
];
