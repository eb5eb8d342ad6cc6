/**
 * Retries for requests the SDK will not retry itself. The SDK's retry
 * middleware refuses to resend a streaming body (it cannot rewind a stream), so
 * a file PUT or a download that breaks half-way would fail the job at once.
 * Here the caller re-creates the stream on every attempt.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** Node network codes and S3 error names that mean "try again", as the SDK classifies them. */
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ERR_STREAM_PREMATURE_CLOSE']);
const TRANSIENT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'SlowDown', 'Throttling', 'ThrottlingException', 'InternalError', 'ServiceUnavailable']);

interface SdkLikeError {
  name?: string;
  code?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

export function isTransientS3Error(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 5) return false;
  const e = err as SdkLikeError;
  if (e.name === 'AbortError') return false;
  const status = e.$metadata?.httpStatusCode ?? 0;
  return (
    e.$retryable !== undefined ||
    status >= 500 ||
    status === 429 ||
    TRANSIENT_NAMES.has(e.name ?? '') ||
    TRANSIENT_CODES.has(e.code ?? '') ||
    isTransientS3Error(e.cause, depth + 1)
  );
}

export interface RetryOptions {
  /** Total tries, the first included. @defaultValue 5 */
  maxAttempts?: number;
  /** First back-off delay; doubles each retry, with full jitter. @defaultValue 100 */
  baseDelayMs?: number;
  /** Cap on one delay. @defaultValue 5000 */
  maxDelayMs?: number;
  /** Told about each failure that will be retried, e.g. to log it. */
  onRetry?: (err: unknown, attempt: number) => void;
}

export async function withRetries<T>(attempt: (n: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const maxAttempts = opts.maxAttempts ?? 5;
  const base = opts.baseDelayMs ?? 100;
  const cap = opts.maxDelayMs ?? 5000;
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (n >= maxAttempts || !isTransientS3Error(err)) throw err;
      opts.onRetry?.(err, n);
      await sleep(Math.random() * Math.min(cap, base * 2 ** (n - 1)));
    }
  }
}
