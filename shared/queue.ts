/** Queue names, job data and job options shared by the API (producer) and workers. */
import { FlowProducer, Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { QueueUnavailableError } from './errors.js';

export const TILE_QUEUE = 'tile-image';

/** A part of a split image (docs/split-jobs.md): one band, or the assembling job that runs after all of them. */
export type TileJobPart = { kind: 'band'; index: number } | { kind: 'assemble' };

/** A job is told what to do by its data alone: everything else is in MongoDB. */
export interface TileJobData {
  imageId: string;
  /** Absent: the whole image (which may split itself into parts). */
  part?: TileJobPart;
  /** The API request that submitted the image, so the worker's log lines can be matched to it. */
  reqId?: string;
  /** The last failed attempt (code, the sentence users see, permanent/transient/internal), written by the worker. */
  lastError?: { code: string; message: string; kind: 'permanent' | 'transient' | 'internal' };
}

/** The backoff type the worker's strategy answers (workers/retry-policy.ts): long for transient failures, short otherwise. */
export const TILE_BACKOFF = 'hugemap';

/** `attempts`: JOB_ATTEMPTS (config.retry.attempts); the default is the config's. */
export function tileJobOptionsFor(attempts = 12): JobsOptions {
  return {
    attempts,
    backoff: { type: TILE_BACKOFF },
    removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
    removeOnFail: { age: 30 * 24 * 3600 },
  };
}

/**
 * Parts of split images go to the queue with a priority: BullMQ hands out a prioritised job only when
 * no job without one is waiting, so an image uploaded while a huge one is being cut starts as soon as
 * a worker finishes its current band, not after every band (fairness: docs/split-jobs.md).
 */
export const PART_PRIORITY = 10;

/** `{imageId}.band{i}`, `{imageId}.assemble`: ids repeat with the image, so adding a part twice is a no-op. */
export function partJobId(imageId: string, part: TileJobPart): string {
  return part.kind === 'band' ? `${imageId}.band${part.index}` : `${imageId}.assemble`;
}

/** The job options with the default JOB_ATTEMPTS (the parts of split images use these). */
export const tileJobOptions: JobsOptions = tileJobOptionsFor();

/** BullMQ needs `maxRetriesPerRequest: null` on connections that block (workers). */
export function redisConnection(redisUrl: string): ConnectionOptions {
  const u = new URL(redisUrl);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
  };
}

/**
 * `failFast` (the API's producer): commands fail at once while Redis is away instead of waiting
 * in ioredis's offline queue for the whole outage, so an upload is refused with 503 in seconds.
 * Workers keep the default and wait for Redis to come back.
 */
export function createTileQueue(redisUrl: string, prefix: string, opts: { failFast?: boolean } = {}): Queue<TileJobData> {
  const connection = opts.failFast ? { ...redisConnection(redisUrl), maxRetriesPerRequest: 1, enableOfflineQueue: false } : redisConnection(redisUrl);
  return new Queue<TileJobData>(TILE_QUEUE, { connection, prefix });
}

/**
 * The job id is the image id, so enqueueing the same image twice is a no-op.
 * `attempts`: JOB_ATTEMPTS. `timeoutMs`: give up with QueueUnavailableError after this long.
 * `reqId`: the API request that submitted the image, carried into the worker's log lines.
 */
export async function enqueueTileJob(
  queue: Queue<TileJobData>,
  imageId: string,
  opts: { attempts?: number; timeoutMs?: number; reqId?: string } = {},
): Promise<void> {
  await withQueueTimeout(opts.timeoutMs, async () => {
    // Content ids repeat: the same bytes uploaded again after a DELETE get the same id, and a
    // finished job kept under that id would make BullMQ drop the new one silently.
    const previous = await queue.getJob(imageId);
    if (previous && ((await previous.isCompleted()) || (await previous.isFailed()))) await previous.remove();
    const data: TileJobData = opts.reqId === undefined ? { imageId } : { imageId, reqId: opts.reqId };
    await queue.add('tile', data, { ...tileJobOptionsFor(opts.attempts), jobId: imageId });
  });
}

/** Throws QueueUnavailableError unless Redis answers within `timeoutMs` (one HEXISTS): checked before an upload is read. */
export async function assertQueueReachable(queue: Queue<TileJobData>, timeoutMs: number): Promise<void> {
  await withQueueTimeout(timeoutMs, async () => {
    await queue.isPaused();
  });
}

/** `op`, failing with QueueUnavailableError when Redis errs or takes longer than `timeoutMs` (no limit when undefined). */
async function withQueueTimeout(timeoutMs: number | undefined, op: () => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    if (timeoutMs !== undefined) timer = setTimeout(() => reject(new QueueUnavailableError()), timeoutMs);
  });
  try {
    await Promise.race([op(), timedOut]);
  } catch (err) {
    throw err instanceof QueueUnavailableError ? err : new QueueUnavailableError(err);
  } finally {
    clearTimeout(timer);
  }
}

export function createFlowProducer(redisUrl: string, prefix: string): FlowProducer {
  return new FlowProducer({ connection: redisConnection(redisUrl), prefix });
}

/**
 * Queues the bands of a split image as children of its assembling job (BullMQ flow): the assembling
 * job waits until every band has completed; a band that fails for good fails it too.
 */
export async function enqueueSplitJobs(flows: FlowProducer, queue: Queue<TileJobData>, imageId: string, bands: number): Promise<void> {
  const parts: TileJobPart[] = [{ kind: 'assemble' }, ...Array.from({ length: bands }, (_, index) => ({ kind: 'band' as const, index }))];
  // As in enqueueTileJob: finished parts of an earlier upload of the same bytes would make BullMQ skip these.
  for (const part of parts) {
    const previous = await queue.getJob(partJobId(imageId, part));
    if (previous && ((await previous.isCompleted()) || (await previous.isFailed()))) await previous.remove();
  }
  const opts = (part: TileJobPart): JobsOptions => ({ ...tileJobOptions, jobId: partJobId(imageId, part), priority: PART_PRIORITY });
  await flows.add({
    name: 'assemble',
    queueName: TILE_QUEUE,
    data: { imageId, part: parts[0] },
    opts: opts(parts[0]!),
    children: parts.slice(1).map((part) => ({
      name: 'band',
      queueName: TILE_QUEUE,
      data: { imageId, part },
      opts: { ...opts(part), failParentOnFailure: true },
    })),
  });
}
