/**
 * The BullMQ side of a worker process: takes `tile-image` jobs, runs them, and
 * turns failures into the right outcome:
 *  - bad input (a permanent HugemapError) fails at once (UnrecoverableError),
 *    with its code and message in the status document;
 *  - anything else is thrown back to BullMQ to retry with backoff, and marks
 *    the image failed only when the last attempt is spent.
 * A worker killed outright leaves its job's lock to expire; BullMQ's stalled
 * check hands the job to another worker, which resumes from the checkpoint.
 * The parts of a split image (a band, the assembling job: docs/split-jobs.md)
 * are jobs of the same queue and fail the same way: a band's last failure
 * fails the image with its code, and BullMQ then fails the assembling job.
 */
import { sep } from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { toHugemapError, withLocalPathsHidden, type HugemapError } from '../shared/errors.js';
import { redisConnection, TILE_QUEUE, type TileJobData } from '../shared/queue.js';
import { partDirName, partKey } from './part-context.js';
import { jobPaths, type WorkerDeps } from './job-context.js';
import { ImageDeletedError, processImageJob, type JobOutcome } from './process-image-job.js';
import { processBandJob } from './process-band-job.js';
import { processAssembleJob } from './process-assemble-job.js';
import { removeImageData } from './remove-image-data.js';

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

/** The whole image, or one part of a split image (docs/split-jobs.md). */
function processJob(data: TileJobData, deps: WorkerDeps): Promise<JobOutcome> {
  if (data.part?.kind === 'band') return processBandJob(data.imageId, data.part.index, deps);
  if (data.part?.kind === 'assemble') return processAssembleJob(data.imageId, deps);
  return processImageJob(data.imageId, deps);
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
  // A part's local folder is its own (part-context.ts); the image's folder is the whole job's.
  const localDir = job.data.part ? partDirName(imageId, partKey(job.data.part)) : imageId;
  const paths = jobPaths(deps.config.workDir, localDir);
  try {
    const outcome = await processJob(job.data, { ...deps, logger: log });
    log.info({ outcome }, 'job finished');
    return outcome;
  } catch (thrown) {
    // Deleted meanwhile: whatever failed (its original gone from S3, its status write refused) failed because of that.
    const deleted = thrown instanceof ImageDeletedError || (await deps.store.get(imageId).then((d) => d === null, () => false));
    if (deleted) {
      await removeImageData(imageId, deps, { localDirs: [localDir] });
      return 'image-gone';
    }
    const err = toHugemapError(thrown);
    const lastAttempt = err.permanent || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    log.warn({ code: err.code, err: err.message, lastAttempt }, 'job failed');
    const error = errorForStatus(err, paths);
    if (lastAttempt) {
      // The preview goes with everything else under the image's prefix, so the status stops linking it.
      await deps.store.update(imageId, { status: 'failed', stage: 'failed', error }, { $unset: { preview: '' } }).catch(() => null);
      await removeImageData(imageId, deps, { keepOriginal: true, localDirs: [localDir] }).catch(() => null);
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
