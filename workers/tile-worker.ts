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
 * The parts of a split image (a band, the assembling job: docs/split-jobs.md)
 * are jobs of the same queue and fail the same way: a band's last failure
 * fails the image with its code, and BullMQ then fails the assembling job.
 *
 * The lock is renewed every sixth of WORKER_LOCK_MS and the stalled check runs
 * as often, so the handover comes between 5/6 and 7/6 of WORKER_LOCK_MS after
 * the kill (handoverWindowMs).
 */
import { UnrecoverableError, Worker, type Job, type WorkerOptions } from 'bullmq';
import { NotFoundError, type HugemapError } from '../shared/errors.js';
import { redisConnection, TILE_BACKOFF, TILE_QUEUE, type TileJobData } from '../shared/queue.js';
import type { Logger } from '../shared/logger.js';
import { removeTree } from '../shared/remove-tree.js';
import type { ImageDoc } from '../shared/image-status.js';
import { jobPaths, type WorkerDeps } from './job-context.js';
import { ImageDeletedError, processImageJob, type JobOutcome } from './process-image-job.js';
import { partDirName, partKey } from './part-context.js';
import { processBandJob } from './process-band-job.js';
import { processAssembleJob } from './process-assemble-job.js';
import { removeImageData } from './remove-image-data.js';
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

/** The whole image, or one part of a split image (docs/split-jobs.md). */
function processJob(data: TileJobData, deps: WorkerDeps, onStarted: (doc: ImageDoc) => void): Promise<JobOutcome> {
  if (data.part?.kind === 'band') return processBandJob(data.imageId, data.part.index, deps);
  if (data.part?.kind === 'assemble') return processAssembleJob(data.imageId, deps);
  return processImageJob(data.imageId, deps, { onStarted });
}

/** The submitting request's id, for log lines about this job. */
function reqIdOf(job: Job<TileJobData> | undefined): { reqId?: string } {
  return job?.data.reqId ? { reqId: job.data.reqId } : {};
}

async function runJob(job: Job<TileJobData>, deps: WorkerDeps): Promise<string> {
  const { imageId, reqId } = job.data;
  // Every line this job logs carries the id of the request that submitted the image, and the
  // attempt number as the status document counts it (stalled attempts included), so the log and
  // the status agree; until the document is read (and for the parts of a split image), BullMQ's.
  const base = deps.logger.child({ imageId, jobId: job.id, ...(reqId ? { reqId } : {}) });
  let log: Logger = job.data.part ? base.child({ attempt: job.attemptsMade + 1 }) : base;
  let attempt: number | undefined;
  const onStarted = (doc: ImageDoc) => {
    attempt = doc.attempts;
    log = base.child({ attempt });
    log.info('job started');
  };
  if (job.data.part) log.info('job started');
  // A part's local folder is its own (part-context.ts); the image's folder is the whole job's.
  const localDir = job.data.part ? partDirName(imageId, partKey(job.data.part)) : imageId;
  const paths = jobPaths(deps.config.workDir, localDir);
  try {
    const outcome = await processJob(job.data, { ...deps, logger: log }, onStarted);
    // Ended without cutting (its image failed, went or is done): the folder an earlier attempt kept
    // for its retry (a downloaded original, up to gigabytes) goes now, or it stays on the disk.
    if (outcome === 'image-failed' || outcome === 'image-gone' || outcome === 'already-done' || outcome === 'stale-part') await removeTree(paths.dir);
    log.info({ outcome }, 'job finished');
    return outcome;
  } catch (thrown) {
    // Deleted meanwhile: whatever failed (its original gone from S3, its status write refused) failed because of that.
    // The API deletes the objects first and the document last, so a missing original waits a moment for the document to go.
    const deleted = thrown instanceof ImageDeletedError || (await documentGone(deps, imageId, thrown instanceof NotFoundError ? DELETE_GRACE_MS : 0));
    if (deleted) {
      await removeImageData(imageId, deps, { localDirs: [localDir] });
      return 'image-gone';
    }
    const err = await classifyJobFailure(thrown, deps.config.workDir);
    const kind = failureKind(err);
    const bullAttempt = job.attemptsMade + 1;
    const lastAttempt = isLastAttempt(kind, bullAttempt, job.opts.attempts ?? 1);
    const error = errorForStatus(err, paths, { final: lastAttempt });
    log.warn(
      { code: err.code, err: err.message, cause: causeOf(err), kind, lastAttempt, ...(attempt === undefined ? { attempt: bullAttempt } : {}), retryInMs: lastAttempt ? null : retryDelayMs(kind, bullAttempt, deps.config.retry) },
      'job failed',
    );
    const record: JobFailureRecord = { code: error.code, message: error.message, kind };
    await job.updateData({ ...job.data, lastError: record }).catch(() => undefined);
    if (lastAttempt) {
      await recordFailure(deps, imageId, error, [localDir]).catch((e: unknown) => log.warn({ err: (e as Error).message }, 'could not record the failure; the reconciler will'));
    } else {
      await deps.store.update(imageId, { error }).catch(() => null);
    }
    if (lastAttempt) throw new UnrecoverableError(`${err.code}: ${error.message}`);
    throw Object.assign(err, { failureKind: kind });
  }
}

/** Marks the image failed and removes its partial pyramid (the original stays, for a retry). */
export async function recordFailure(deps: WorkerDeps, imageId: string, error: { code: string; message: string }, localDirs: string[] = []): Promise<void> {
  // The preview goes with everything else under the image's prefix, so the status stops linking it.
  await deps.store.update(imageId, { status: 'failed', stage: 'failed', error }, { $unset: { preview: '' } });
  await removeImageData(imageId, deps, { keepOriginal: true, localDirs }).catch(() => null);
}

function causeOf(err: HugemapError): string | undefined {
  const cause = err.cause;
  return cause instanceof Error ? `${cause.name}: ${cause.message}` : undefined;
}

/** How long a job whose original is missing waits for the document to go too (a delete in progress) before it fails. */
const DELETE_GRACE_MS = 5_000;

/** Whether the image's document is gone, or goes within `graceMs`; false when the database cannot tell. */
async function documentGone(deps: WorkerDeps, imageId: string, graceMs: number): Promise<boolean> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const gone = await deps.store.get(imageId).then((d) => d === null, () => false);
    if (gone || Date.now() >= deadline) return gone;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
