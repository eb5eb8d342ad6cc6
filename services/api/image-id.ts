/**
 * Image ids: 22 URL-safe characters (128 bits), safe in S3 keys and paths.
 *
 * An upload's id is derived from the SHA-256 of its bytes, so the same bytes
 * always get the same id (dedupe) and nobody can guess an id without having
 * the image. A URL submission's bytes are only known once the worker has
 * fetched them, so it gets a random id of the same shape. Ids of 16 characters
 * (random, from before content ids) are still accepted, so older images stay reachable.
 */
import { createHash, randomBytes } from 'node:crypto';
import { BadRequestError } from '../../shared/errors.js';
import { BOOTSTRAP_ADMIN } from './access/principal.js';

export const IMAGE_ID_LENGTH = 22;
/** 22 characters; 16 is the random id of images stored before content ids, still addressable. */
export const IMAGE_ID = /^(?:[A-Za-z0-9_-]{22}|[A-Za-z0-9_-]{16})$/;

/** The first 16 bytes of the content's SHA-256, base64url. */
export function contentImageId(sha256: Buffer): string {
  if (sha256.length !== 32) throw new RangeError(`expected a 32-byte SHA-256 digest, got ${sha256.length} bytes`);
  return sha256.subarray(0, 16).toString('base64url');
}

/**
 * An upload's id: the content id for the bootstrap admin (so images from before
 * accounts keep theirs), else the content id of (owner, SHA-256): the same
 * bytes from two users are two images, neither revealing the other's id.
 */
export function ownedImageId(owner: string, sha256: Buffer): string {
  if (owner === BOOTSTRAP_ADMIN) return contentImageId(sha256);
  return contentImageId(createHash('sha256').update(`hugemap-owner\0${owner}\0`).update(sha256).digest());
}

export function contentImageIdOf(bytes: Buffer): string {
  return contentImageId(createHash('sha256').update(bytes).digest());
}

export function newImageId(): string {
  return randomBytes(16).toString('base64url');
}

export function isImageId(value: unknown): value is string {
  return typeof value === 'string' && IMAGE_ID.test(value);
}

/** Checked before any lookup so a malformed id never reaches MongoDB or an S3 key. */
export function parseImageId(value: unknown): string {
  if (!isImageId(value)) throw new BadRequestError(`malformed image id (expected ${IMAGE_ID_LENGTH} characters of [A-Za-z0-9_-])`);
  return value;
}
