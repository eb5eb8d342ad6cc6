/**
 * Content-Type for every file a pyramid or an original can hold. S3 stores what
 * we send and browsers trust it, so a wrong type breaks the viewer (XML parsed
 * as text) even though the bytes are right.
 */
import { extname } from 'node:path';

const byExtension: Readonly<Record<string, string>> = {
  '.dzi': 'application/xml',
  '.xml': 'application/xml',
  '.jpeg': 'image/jpeg',
  '.jpg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.json': 'application/json',
};

export const FALLBACK_CONTENT_TYPE = 'application/octet-stream';

export function contentTypeFor(path: string): string {
  return byExtension[extname(path).toLowerCase()] ?? FALLBACK_CONTENT_TYPE;
}
