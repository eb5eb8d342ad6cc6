/**
 * What a failed attempt of a tiling job means, decided in one place:
 *  - permanent: the input is bad (not an image, damaged, too big); fails at once, its message
 *    (without the worker's paths) is shown as it is;
 *  - transient: the database, Redis, S3, the network or the scratch disk; retried with a long
 *    backoff (RETRY_DELAY_MS doubling up to RETRY_MAX_DELAY_MS) over JOB_ATTEMPTS attempts, so an
 *    outage of hours does not fail the image;
 *  - internal: anything else (a bug, an unrecognised libvips error, a remote URL's server failing
 *    for a moment); a few quick retries, then failed.
 * Users see a code and a plain sentence; the full message, with hosts and ports, goes to the log.
 */
import { statfs } from 'node:fs/promises';
import { sep } from 'node:path';
import { DiskFullError, TransientError, withLocalPathsHidden, type HugemapError } from '../shared/errors.js';
import { classifyError, isDiskFull } from '../shared/infra-errors.js';
import type { Config } from '../shared/config.js';

export type FailureKind = 'permanent' | 'transient' | 'internal';

/** Attempts an internal error gets (at most JOB_ATTEMPTS): enough for a fluke, not a loop on a bug. */
export const INTERNAL_ATTEMPTS = 3;
const INTERNAL_DELAY_MS = 2_000;

/**
 * Below this much free space in WORK_DIR a write error from libvips (which says "write failed",
 * not ENOSPC) is taken for a full disk.
 */
const NEARLY_FULL_BYTES = 1024 * 1024;

export function failureKind(err: HugemapError): FailureKind {
  if (err.permanent) return 'permanent';
  return err instanceof TransientError ? 'transient' : 'internal';
}

/** The thrown value as one of our errors; a libvips write error on a nearly full WORK_DIR as DiskFullError. */
export async function classifyJobFailure(thrown: unknown, workDir: string): Promise<HugemapError> {
  if (isDiskFull(thrown) || isDiskFull((thrown as { cause?: unknown } | null)?.cause)) return new DiskFullError(thrown);
  const err = classifyError(thrown);
  if (err.code === 'HUGEMAP_ERR_INTERNAL' && /\bwrite\b|unable to write|write failed|short write/i.test(err.message) && (await freeBytes(workDir)) < NEARLY_FULL_BYTES) {
    return new DiskFullError(thrown);
  }
  return err;
}

async function freeBytes(dir: string): Promise<number> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/** Whether attempt number `attempt` (1-based) is the last one this failure gets. */
export function isLastAttempt(kind: FailureKind, attempt: number, maxAttempts: number): boolean {
  if (kind === 'permanent') return true;
  return attempt >= (kind === 'internal' ? Math.min(INTERNAL_ATTEMPTS, maxAttempts) : maxAttempts);
}

/** Backoff before the next attempt, after `attemptsMade` failed ones (BullMQ's backoffStrategy). */
export function retryDelayMs(kind: FailureKind, attemptsMade: number, retry: Config['retry']): number {
  const n = Math.max(0, attemptsMade - 1);
  if (kind === 'internal') return Math.min(INTERNAL_DELAY_MS * 2 ** n, 60_000);
  return Math.min(retry.delayMs * 2 ** Math.min(n, 30), retry.maxDelayMs);
}

/** What the image's status shows, per code, for failures that are not the input's fault. */
const PLAIN: Record<string, string> = {
  HUGEMAP_ERR_DB_UNAVAILABLE: 'the database was unavailable',
  HUGEMAP_ERR_QUEUE_UNAVAILABLE: 'the job queue (Redis) was unavailable',
  HUGEMAP_ERR_STORAGE: 'the object storage (S3) failed',
  HUGEMAP_ERR_DISK_FULL: "the worker's scratch disk was full",
  HUGEMAP_ERR_NETWORK: 'a network connection failed',
  HUGEMAP_ERR_INTERRUPTED: 'processing was interrupted',
};

/**
 * The error as the image's status shows it. Bad input: its own message, without the worker's paths
 * (withLocalPathsHidden). Anything else: a plain sentence for its code, which names no host, port,
 * bucket or path (those are in the log), saying whether it will be tried again.
 */
export function errorForStatus(err: HugemapError, paths: { dir: string; originalPath: string }, opts: { final?: boolean } = {}): { code: string; message: string } {
  if (err.permanent || err.code === 'HUGEMAP_ERR_URL_FETCH_FAILED') {
    return withLocalPathsHidden(err, [[paths.originalPath, 'the original image'], [`${paths.dir}${sep}`, '']]).toJSON();
  }
  const what = PLAIN[err.code] ?? 'processing failed with an internal error (the worker log has the details)';
  const next = opts.final ? 'retry the image once the cause is fixed' : 'it will be tried again later';
  return { code: err.code, message: `${what}; ${next}` };
}
