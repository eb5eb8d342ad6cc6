/** Browsing the listing (random, next, previous), tags, and the sizes a page needs to embed a scaled image. */
import type { RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { access, errors, imageParams, json } from '../responses.js';
import { dimensions, imageIdOrNull, tagCounts } from '../schemas.js';

const size = z.string().min(1).meta({ description: '`o`, `WxH` (fit inside), `WxH!` (exact, cropped) or a preset (thumb, small, medium, large, square)', example: '320x240' });

export const browsePaths: RouteConfig[] = [
  {
    method: 'get',
    path: '/api/v1/images/random',
    tags: ['browse'],
    summary: 'A random image id (uniform over the listing)',
    ...access('anyone'),
    responses: { 200: json('An image id.', imageIdOrNull), ...errors(404) },
  },
  ...(['next', 'previous'] as const).map(
    (step): RouteConfig => ({
      method: 'get',
      path: `/api/v1/images/{id}/${step}`,
      tags: ['browse'],
      summary: step === 'next' ? 'The next (older) image in the listing' : 'The previous (newer) image in the listing',
      ...access('anyone'),
      request: { params: imageParams },
      responses: { 200: json('The id, or null past the end.', imageIdOrNull), ...errors(400, 404) },
    }),
  ),
  {
    method: 'get',
    path: '/api/v1/tags',
    tags: ['browse'],
    summary: 'Every tag with the number of images carrying it, most used first',
    ...access('anyone'),
    responses: { 200: json('Tag counts.', tagCounts) },
  },
  {
    method: 'get',
    path: '/api/v1/images/{id}/scaled-dimensions',
    tags: ['scaled images'],
    summary: 'The width and height /i/{size}/{id}.jpg would have',
    ...access('anyone'),
    request: { params: imageParams, query: z.object({ size }) },
    responses: { 200: json('The scaled size.', dimensions), ...errors(400, 404) },
  },
  {
    method: 'get',
    path: '/api/v1/images/{id}/tag',
    tags: ['scaled images'],
    summary: 'An <img> tag for a scaled image, with width, height, alt and (when needed) a signed src',
    ...access('anyone'),
    request: { params: imageParams, query: z.object({ size, format: z.enum(['jpg', 'webp', 'png']).default('jpg') }) },
    responses: {
      200: { description: 'The tag.', content: { 'text/html': { schema: z.string().meta({ example: '<img src="/i/thumb/…" width="150" height="100" alt="Harbour">' }) } } },
      ...errors(400, 404),
    },
  },
];
