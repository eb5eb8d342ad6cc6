/** Image ids: 16 URL-safe characters (96 random bits), unguessable and safe in S3 keys and paths. */
import { randomBytes } from 'node:crypto';
import { BadRequestError } from '../../shared/errors.js';

const IMAGE_ID = /^[A-Za-z0-9_-]{16}$/;

export function newImageId(): string {
  return randomBytes(12).toString('base64url');
}

export function isImageId(value: unknown): value is string {
  return typeof value === 'string' && IMAGE_ID.test(value);
}

/** Checked before any lookup so a malformed id never reaches MongoDB or an S3 key. */
export function parseImageId(value: unknown): string {
  if (!isImageId(value)) throw new BadRequestError('malformed image id (expected 16 characters of [A-Za-z0-9_-])');
  return value;
}
