/**
 * Reading SDK errors and turning them into ours. Every S3 failure leaves this
 * package as a StorageError (transient: the job retries with back-off) or as
 * NotFoundError, with the SDK error kept as `cause`.
 */
import { StorageError } from '../errors.js';

export function errorName(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'name' in err ? String((err as { name: unknown }).name) : undefined;
}

export function isNotFound(err: unknown): boolean {
  const name = errorName(err);
  if (name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchBucket') return true;
  // HEAD responses have no body, so the status is all there is.
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode === 404;
}

export function storageError(operation: string, target: string, err: unknown): StorageError {
  const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new StorageError(`S3 ${operation} ${target} failed: ${detail}`, err);
}
