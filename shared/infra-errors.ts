/**
 * Recognises failures of the servers and machine we run on (MongoDB driver, ioredis/BullMQ,
 * the disk, the network) and names them with our transient codes, so that the API answers 503
 * with Retry-After and the worker backs off for minutes instead of failing the image for good.
 * Anything not recognised is left as it is.
 */
import {
  MongoNetworkError,
  MongoOperationTimeoutError,
  MongoServerClosedError,
  MongoServerError,
  MongoServerSelectionError,
} from 'mongodb';
import { DbUnavailableError, DiskFullError, HugemapError, NetworkError, QueueUnavailableError, toHugemapError } from './errors.js';

/** Server error codes of a replica set member that is stepping down or shutting down. */
const MONGO_UNAVAILABLE_CODES = new Set([91, 189, 10107, 11600, 11602, 13435, 13436]);

/** Connection-level errno codes: the peer is down or the path to it is. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

/** A client we closed ourselves (MongoNotConnectedError, MongoTopologyClosedError) is our bug, not an outage: not counted. */
export function isDbUnavailable(err: unknown): boolean {
  if (err instanceof MongoNetworkError || err instanceof MongoServerSelectionError) return true;
  if (err instanceof MongoOperationTimeoutError || err instanceof MongoServerClosedError) return true;
  return err instanceof MongoServerError && typeof err.code === 'number' && MONGO_UNAVAILABLE_CODES.has(err.code);
}

/** ioredis gives these as plain Errors: only the name or message tells them apart. */
export function isQueueUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'MaxRetriesPerRequestError') return true;
  return /^Connection is closed|Stream isn't writeable|enableOfflineQueue|Redis connection lost/.test(err.message);
}

export function isDiskFull(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (e?.code === 'ENOSPC' || e?.code === 'EDQUOT') return true;
  return typeof e?.message === 'string' && /no space left on device|disk quota exceeded/i.test(e.message);
}

export function isNetworkFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  const cause = (err as { cause?: unknown } | null)?.cause;
  return cause !== undefined && cause !== err && isNetworkFailure(cause);
}

/** Our transient error for `err`, or null when it is not an infrastructure failure we know. */
export function asInfraError(err: unknown): HugemapError | null {
  if (err instanceof HugemapError) return null;
  if (isDbUnavailable(err)) return new DbUnavailableError(err);
  if (isQueueUnavailable(err)) return new QueueUnavailableError(err);
  if (isDiskFull(err)) return new DiskFullError(err);
  if (isNetworkFailure(err)) return new NetworkError(err);
  return null;
}

/** Anything thrown as a HugemapError: ours as they are, infrastructure failures by their transient code, the rest internal. */
export function classifyError(err: unknown): HugemapError {
  if (err instanceof HugemapError) return err;
  return asInfraError(err) ?? toHugemapError(err);
}
