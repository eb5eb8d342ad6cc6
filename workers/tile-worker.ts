/**
 * The BullMQ side of a worker process: takes `tile-image` jobs, runs them, and
 * turns failures into the right outcome (workers/job-failure.ts):
 *  - bad input (a permanent HugemapError) fails at once (UnrecoverableError),
 *    with its code and message in the status document;
 *  - a transient failure (database, Redis, S3, network, full disk) is retried
 *    with a long backoff, an internal one a few times quickly; the image is
 *    marked failed only when its last attempt is spent, with a code and a plain
 *    sentence (hosts, ports and paths go to the log only).
 * Each failure is also written into the job's data in Redis, so that the
 * reconciler can settle the image if the database was what failed.
 *
 * A worker killed outright leaves its job's lock to expire; BullMQ's stalled
 * check hands the job to another worker, which resumes from the checkpoint.
 * The lock is renewed every sixth of WORKER_LOCK_MS and the stalled check runs
 * as often, so the handover comes between 5/6 and 7/6 of WORKER_LOCK_MS after
 * the kill (handoverWindowMs).
 */
import { rm } from 'node:fs/promises';
import { UnrecoverableError, Worker, type Job, type WorkerOptions } from 'bullmq';
import type { HugemapError } from '../shared/errors.js';
import { imageKeys } from '../shared/image-status.js';
import { redisConnection, TILE_BACKOFF, TILE_QUEUE, type TileJobData } from '../shared/queue.js';
import type { Logger } from '../shared/logger.js';
import { jobPaths, type WorkerDeps } from './job-context.js';
import { ImageDeletedError, processImageJob } from './process-image-job.js';
import { classifyJobFailure, errorForStatus, failureKind, isLastAttempt, retryDelayMs, type FailureKind } from './job-failure.js';

export { errorForStatus } from './job-failure.js';

/** The last failure of a job, kept in its data in Redis (read by workers/reconciler.ts). */
export interface JobFailureRecord {
  code: string;
  message: string;
  kind: FailureKind;
}

/** Lock renewal and stalled-check timing for a lock of `lockMs` (WORKER_LOCK_MS). */
export function lockTiming(lockMs: number): Pick<WorkerOptions, 'lockDuration' | 'lockRenewTime' | 'stalledInterval'> {
  const sixth = Math.max(100, Math.round(lockMs / 6));
  return { lockDuration: lockMs, lockRenewTime: sixth, stalledInterval: sixth };
}

/**
 * When a killed worker's job is taken over, after the kill: its lock was renewed at most one
 * renewal period before the kill, so it expires between lockMs minus that period and lockMs; the
 * stalled check moves it to the wait list at the first check after that (at most one interval later).
 */
export function handoverWindowMs(lockMs: number): { min: number; max: number } {
  const t = lockTiming(lockMs);
  return { min: lockMs - t.lockRenewTime!, max: lockMs + t.stalledInterval! };
}

export function createTileWorker(deps: WorkerDeps): Worker<TileJobData> {
  const { config, logger } = deps;
  const worker = new Worker<TileJobData>(TILE_QUEUE, (job) => runJob(job, deps), {
    connection: redisConnection(config.redisUrl),
    prefix: config.queuePrefix,
    concurrency: config.workerConcurrency,
    ...lockTiming(config.workerLockMs),
    maxStalledCount: 3,
    settings: {
      backoffStrategy: (attemptsMade, type, err) => {
        const kind = type === TILE_BACKOFF ? ((err as { failureKind?: FailureKind } | undefined)?.failureKind ?? 'internal') : 'internal';
        return retryDelayMs(kind, attemptsMade, config.retry);
      },
    },
  });
  worker.on('failed', (job, err) => logger.warn({ jobId: job?.id, ...reqIdOf(job), err: err.message }, 'job attempt failed'));
  worker.on('completed', (job) => logger.info({ jobId: job.id, ...reqIdOf(job) }, 'job completed'));
  worker.on('error', (err) => logger.error({ err: err.message }, 'worker error'));
  return worker;
}

/** The submitting request's id, for log lines about this job. */
function reqIdOf(job: Job<TileJobData> | undefined): { reqId?: string } {
  return job?.data.reqId ? { reqId: job.data.reqId } : {};
}

async function runJob(job: Job<TileJobData>, deps: WorkerDeps): Promise<string> {
  const { imageId, reqId } = job.data;
  // Every line this job logs carries the id of the request that submitted the image, and the
  // attempt number as the status document counts it (stalled attempts included), so the log and
  // the status agree; until the document is read, BullMQ's.
  const base = deps.logger.child({ imageId, jobId: job.id, ...(reqId ? { reqId } : {}) });
  let log: Logger = base;
  let attempt: number | undefined;
  try {
    const outcome = await processImageJob(imageId, { ...deps, logger: base }, {
      onStarted: (doc) => {
        attempt = doc.attempts;
        log = base.child({ attempt });
        log.info('job started');
      },
    });
    log.info({ outcome }, 'job finished');
    return outcome;
  } catch (thrown) {
    if (thrown instanceof ImageDeletedError) {
      await removeEverything(imageId, deps);
      return 'image-gone';
    }
    const err = await classifyJobFailure(thrown, deps.config.workDir);
    const kind = failureKind(err);
    const bullAttempt = job.attemptsMade + 1;
    const lastAttempt = isLastAttempt(kind, bullAttempt, job.opts.attempts ?? 1);
    const paths = jobPaths(deps.config.workDir, imageId);
    const error = errorForStatus(err, paths, { final: lastAttempt });
    log.warn(
      { code: err.code, err: err.message, cause: causeOf(err), kind, lastAttempt, ...(attempt === undefined ? { attempt: bullAttempt } : {}), retryInMs: lastAttempt ? null : retryDelayMs(kind, bullAttempt, deps.config.retry) },
      'job failed',
    );
    const record: JobFailureRecord = { code: error.code, message: error.message, kind };
    await job.updateData({ ...job.data, lastError: record }).catch(() => undefined);
    if (lastAttempt) {
      await recordFailure(deps, imageId, error).catch((e: unknown) => log.warn({ err: (e as Error).message }, 'could not record the failure; the reconciler will'));
    } else {
      await deps.store.update(imageId, { error }).catch(() => null);
    }
    if (lastAttempt) throw new UnrecoverableError(`${err.code}: ${error.message}`);
    throw Object.assign(err, { failureKind: kind });
  }
}

/** Marks the image failed and removes its partial pyramid (the original stays, for a retry). */
export async function recordFailure(deps: Pick<WorkerDeps, 'store' | 's3' | 'config'>, imageId: string, error: { code: string; message: string }): Promise<void> {
  // The preview goes with everything else under the image's prefix, so the status stops linking it.
  await deps.store.update(imageId, { status: 'failed', stage: 'failed', error }, { $unset: { preview: '' } });
  await removeEverything(imageId, deps, { keepOriginal: true }).catch(() => null);
}

function causeOf(err: HugemapError): string | undefined {
  const cause = err.cause;
  return cause instanceof Error ? `${cause.name}: ${cause.message}` : undefined;
}

/** A failed or deleted image leaves no partial pyramid behind that could look complete. */
async function removeEverything(imageId: string, deps: Pick<WorkerDeps, 's3' | 'config'>, opts: { keepOriginal?: boolean } = {}): Promise<void> {
  await deps.s3.deletePrefix(imageKeys.prefix(imageId));
  if (!opts.keepOriginal) await deps.s3.deletePrefix(imageKeys.original(imageId));
  await rm(jobPaths(deps.config.workDir, imageId).dir, { recursive: true, force: true });
}
