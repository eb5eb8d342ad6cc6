/** Queue names, job data and job options shared by the API (producer) and workers. */
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';

export const TILE_QUEUE = 'tile-image';

/** A job is told what to do by its data alone: everything else is in MongoDB. */
export interface TileJobData {
  imageId: string;
  /** The API request that submitted the image, so the worker's log lines can be matched to it. */
  reqId?: string;
}

export const tileJobOptions: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 2_000 },
  removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
  removeOnFail: { age: 30 * 24 * 3600 },
};

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

export function createTileQueue(redisUrl: string, prefix: string): Queue<TileJobData> {
  return new Queue<TileJobData>(TILE_QUEUE, { connection: redisConnection(redisUrl), prefix });
}

/** The job id is the image id, so enqueueing the same image twice is a no-op. */
export async function enqueueTileJob(queue: Queue<TileJobData>, imageId: string, reqId?: string): Promise<void> {
  // Content ids repeat: the same bytes uploaded again after a DELETE get the same id, and a
  // finished job kept under that id would make BullMQ drop the new one silently.
  const previous = await queue.getJob(imageId);
  if (previous && ((await previous.isCompleted()) || (await previous.isFailed()))) await previous.remove();
  await queue.add('tile', reqId === undefined ? { imageId } : { imageId, reqId }, { ...tileJobOptions, jobId: imageId });
}
