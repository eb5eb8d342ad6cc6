/** Queue names, job data and job options shared by the API (producer) and workers. */
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { QueueUnavailableError } from './errors.js';

export const TILE_QUEUE = 'tile-image';

/** A job is told what to do by its data alone: everything else is in MongoDB. */
export interface TileJobData {
  imageId: string;
  /** The API request that submitted the image, so the worker's log lines can be matched to it. */
  reqId?: string;
  /** The last failed attempt (code, the sentence users see, permanent/transient/internal), written by the worker. */
  lastError?: { code: string; message: string; kind: 'permanent' | 'transient' | 'internal' };
}

/** The backoff type the worker's strategy answers (workers/retry-policy.ts): long for transient failures, short otherwise. */
export const TILE_BACKOFF = 'hugemap';

/** `attempts`: JOB_ATTEMPTS (config.retry.attempts); the default is the config's. */
export function tileJobOptions(attempts = 12): JobsOptions {
  return {
    attempts,
    backoff: { type: TILE_BACKOFF },
    removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
    removeOnFail: { age: 30 * 24 * 3600 },
  };
}

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
    await queue.add('tile', data, { ...tileJobOptions(opts.attempts), jobId: imageId });
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
