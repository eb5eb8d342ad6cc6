/**
 * The BullMQ side of a worker process: takes `tile-image` jobs, runs them, and
 * turns failures into the right outcome:
 *  - bad input (a permanent HugemapError) fails at once (UnrecoverableError),
 *    with its code and message in the status document;
 *  - anything else is thrown back to BullMQ to retry with backoff, and marks
 *    the image failed only when the last attempt is spent.
 * A worker killed outright leaves its job's lock to expire; BullMQ's stalled
 * check hands the job to another worker, which resumes from the checkpoint.
 */
import { rm } from 'node:fs/promises';
import { sep } from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { toHugemapError, withLocalPathsHidden, type HugemapError } from '../shared/errors.js';
import { imageKeys } from '../shared/image-status.js';
import { redisConnection, TILE_QUEUE, type TileJobData } from '../shared/queue.js';
import { jobPaths, type WorkerDeps } from './job-context.js';
import { ImageDeletedError, processImageJob } from './process-image-job.js';

export function createTileWorker(deps: WorkerDeps): Worker<TileJobData> {
  const { config, logger } = deps;
  const worker = new Worker<TileJobData>(TILE_QUEUE, (job) => runJob(job, deps), {
    connection: redisConnection(config.redisUrl),
    prefix: config.queuePrefix,
    concurrency: config.workerConcurrency,
    lockDuration: config.workerLockMs,
    stalledInterval: config.workerLockMs,
    maxStalledCount: 3,
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
  // Every line this job logs carries the id of the request that submitted the image.
  const log = deps.logger.child({ imageId, jobId: job.id, attempt: job.attemptsMade + 1, ...(reqId ? { reqId } : {}) });
  log.info('job started');
  try {
    const outcome = await processImageJob(imageId, { ...deps, logger: log });
    log.info({ outcome }, 'job finished');
    return outcome;
  } catch (thrown) {
    if (thrown instanceof ImageDeletedError) {
      await removeEverything(imageId, deps);
      return 'image-gone';
    }
    const err = toHugemapError(thrown);
    const lastAttempt = err.permanent || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    log.warn({ code: err.code, err: err.message, lastAttempt }, 'job failed');
    const error = errorForStatus(err, jobPaths(deps.config.workDir, imageId));
    if (lastAttempt) {
      // The preview goes with everything else under the image's prefix, so the status stops linking it.
      await deps.store.update(imageId, { status: 'failed', stage: 'failed', error }, { $unset: { preview: '' } }).catch(() => null);
      await removeEverything(imageId, deps, { keepOriginal: true }).catch(() => null);
    } else {
      await deps.store.update(imageId, { error }).catch(() => null);
    }
    if (err.permanent) throw new UnrecoverableError(`${err.code}: ${err.message}`);
    throw err;
  }
}

/** The error as the image's status shows it: without the worker's own paths (withLocalPathsHidden). */
export function errorForStatus(err: HugemapError, paths: { dir: string; originalPath: string }): { code: string; message: string } {
  return withLocalPathsHidden(err, [[paths.originalPath, 'the original image'], [`${paths.dir}${sep}`, '']]).toJSON();
}

/** A failed or deleted image leaves no partial pyramid behind that could look complete. */
async function removeEverything(imageId: string, deps: WorkerDeps, opts: { keepOriginal?: boolean } = {}): Promise<void> {
  await deps.s3.deletePrefix(imageKeys.prefix(imageId));
  if (!opts.keepOriginal) await deps.s3.deletePrefix(imageKeys.original(imageId));
  await rm(jobPaths(deps.config.workDir, imageId).dir, { recursive: true, force: true });
}
