/**
 * /api/v1/uploads: resumable browser uploads with the tus 1.0 protocol
 * (https://tus.io/protocols/resumable-upload), S3 multipart underneath. Use a
 * tus client (the web app uses tus-js-client); listed here so the reference is whole.
 */
import type { RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { access, errors, json } from '../responses.js';
import { imageAccepted } from '../schemas.js';

const tusHeaders = z.object({ 'Tus-Resumable': z.literal('1.0.0') });
const uploadParams = z.object({ uploadId: z.string().min(1) });

export const uploadPaths: RouteConfig[] = [
  {
    method: 'post',
    path: '/api/v1/uploads',
    tags: ['uploads (tus)'],
    summary: 'Start a resumable upload (tus creation)',
    description: 'Headers `Upload-Length` and `Upload-Metadata` (`filename`, `filetype`, `title`, `tags`, base64). Location names the upload.',
    ...access('write'),
    request: { headers: tusHeaders.extend({ 'Upload-Length': z.string().regex(/^\d+$/) }) },
    responses: { 201: { description: 'Created; Location is the upload URL.' }, ...errors(400, 401, 403, 413) },
  },
  {
    method: 'head',
    path: '/api/v1/uploads/{uploadId}',
    tags: ['uploads (tus)'],
    summary: 'How much of an upload is stored (Upload-Offset)',
    ...access('write'),
    request: { params: uploadParams, headers: tusHeaders },
    responses: { 200: { description: 'Upload-Offset and Upload-Length headers.' }, 404: { description: 'No such upload.' } },
  },
  {
    method: 'patch',
    path: '/api/v1/uploads/{uploadId}',
    tags: ['uploads (tus)'],
    summary: 'Send the next bytes (Content-Type: application/offset+octet-stream, Upload-Offset)',
    description: 'When the last byte is stored the image is registered and queued, and the answer is 200 with the same body as POST /api/v1/images.',
    ...access('write'),
    request: {
      params: uploadParams,
      headers: tusHeaders.extend({ 'Upload-Offset': z.string().regex(/^\d+$/) }),
      body: { content: { 'application/offset+octet-stream': { schema: z.string().meta({ format: 'binary' }) } } },
    },
    responses: {
      204: { description: 'Stored; Upload-Offset is the new offset.' },
      200: json('The last byte is stored: the image, as POST /api/v1/images answers.', imageAccepted),
      ...errors(400, 401, 403, 404, 409, 413, 415, 422),
    },
  },
  {
    method: 'delete',
    path: '/api/v1/uploads/{uploadId}',
    tags: ['uploads (tus)'],
    summary: 'Abandon an upload (tus termination)',
    ...access('write'),
    request: { params: uploadParams, headers: tusHeaders },
    responses: { 204: { description: 'Removed.' }, 404: { description: 'No such upload.' } },
  },
];
