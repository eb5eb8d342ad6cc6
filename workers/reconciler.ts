/**
 * Settles images whose status document and BullMQ job disagree for good: the
 * status says queued or processing, but the job is missing (Redis lost its data:
 * no AOF, a failover), failed (the worker gave up while the database was down, so
 * it could not record that) or completed. Each such image is
 *  - queued again when its job is missing or completed, or failed for a transient
 *    cause (the job's data keeps the last failure: tile-worker.ts), resuming from
 *    its checkpoint;
 *  - marked failed with its code when the job failed for a permanent or internal cause.
 * Images changed within RECONCILE_GRACE_MS are left alone: a job is added just
 * after its document is written. For a split image (docs/split-jobs.md) its
 * assembling job is the one looked at; queuing the image again re-queues the
 * parts it still lacks.
 *
 * Every worker runs the loop; a Redis lock (SET NX PX, one interval long) lets one
 * pass run per interval across all of them. `hugemap reconcile` runs one pass by hand.
 */
import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import { partJobId, type TileJobData } from '../shared/queue.js';
import { requeueImage } from '../shared/requeue-image.js';
import type { StatusStore } from '../shared/status-store.js';
import type { S3Store } from '../shared/storage/s3-store.js';
import { recordFailure } from './tile-worker.js';

export interface ReconcileDeps {
  config: Config;
  store: StatusStore;
  queue: Queue<TileJobData>;
  s3: S3Store;
  logger: Logger;
}

export interface ReconcileReport {
  /** Images queued or processing for longer than the grace period. */
  checked: number;
  requeued: string[];
  failed: string[];
}

/** Job states in which the job is still BullMQ's to run: nothing to settle. */
const IN_HAND = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'paused']);
/** Documents looked at per pass; the next pass takes the rest. */
const BATCH = 500;

export async function reconcileOnce(deps: ReconcileDeps, opts: { graceMs?: number } = {}): Promise<ReconcileReport> {
  const graceMs = opts.graceMs ?? deps.config.reconcile.graceMs;
  const before = new Date(Date.now() - graceMs);
  const docs = await deps.store.find({ status: { $in: ['queued', 'processing'] }, updatedAt: { $lt: before } }, BATCH);
  const report: ReconcileReport = { checked: docs.length, requeued: [], failed: [] };
  for (const doc of docs) {
    const id = doc._id;
    // A split image's own job ended once it queued its parts: the assembling job (which waits for
    // every band) is the one that says whether the image is still in BullMQ's hands.
    const job = await deps.queue.getJob(doc.parts ? partJobId(id, { kind: 'assemble' }) : id);
    const state = job ? await job.getState() : 'missing';
    if (IN_HAND.has(state)) continue;
    const lastError = state === 'failed' ? job?.data.lastError : undefined;
    if (lastError && lastError.kind !== 'transient') {
      await recordFailure(deps, id, { code: lastError.code, message: lastError.message });
      report.failed.push(id);
      deps.logger.warn({ imageId: id, jobState: state, code: lastError.code }, 'reconciler: recorded the failure the worker could not');
      continue;
    }
    const requeued = await requeueImage(deps, id, [doc.status], { resume: true });
    if (requeued) {
      report.requeued.push(id);
      deps.logger.warn({ imageId: id, jobState: state, status: doc.status, cause: lastError?.code }, 'reconciler: queued the image again');
    }
  }
  return report;
}

export interface RunningReconciler {
  stop(): Promise<void>;
}

/** The loop every worker runs; one pass per interval across all workers (the Redis lock). */
export function startReconciler(deps: ReconcileDeps): RunningReconciler {
  const { intervalMs } = deps.config.reconcile;
  const me = randomUUID();
  const lockKey = `${deps.config.queuePrefix}:reconciler:leader`;
  const redis = new Redis(deps.config.redisUrl, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined); // the worker's own connections report Redis trouble
  let running: Promise<void> = Promise.resolve();
  let stopped = false;

  const tick = async () => {
    const leader = await redis.set(lockKey, me, 'PX', intervalMs, 'NX');
    if (leader !== 'OK') return;
    const report = await reconcileOnce(deps);
    if (report.requeued.length + report.failed.length > 0) deps.logger.info({ ...report }, 'reconciler pass');
  };
  const timer = setInterval(() => {
    if (stopped) return;
    running = running.then(tick).catch((err: unknown) => deps.logger.warn({ err: (err as Error).message }, 'reconciler pass failed; trying again next interval'));
  }, intervalMs);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      redis.disconnect();
    },
  };
}
