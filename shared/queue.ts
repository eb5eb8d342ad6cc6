/** Queue names, job data and job options shared by the API (producer) and workers. */
import { FlowProducer, Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';

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
