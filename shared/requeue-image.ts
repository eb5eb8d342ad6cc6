/**
 * Queues a failed image again (re-upload of the same bytes, POST .../retry, the
 * reconciler). A failed image's tiles were deleted when it failed, so its
 * checkpoint of tile rows goes too, and so does a split's record (its bands,
 * which of them were done, their checkpoints: their tiles and level images went
 * with the failure), so a split image is split and cut again from nothing; the
 * original is kept and not fetched again.
 */
import type { Queue } from 'bullmq';
import type { Config } from './config.js';
import type { ImageDoc, ImageState } from './image-status.js';
import { enqueueTileJob, type TileJobData } from './queue.js';
import type { StatusStore } from './status-store.js';

export interface RequeueDeps {
  store: StatusStore;
  queue: Queue<TileJobData>;
  config: Pick<Config, 'retry' | 'queueTimeoutMs'>;
}

/** What a fresh run starts from; `resume` keeps the checkpoint (its tiles are still in S3). */
function queuedAgain(resume: boolean): { set: Record<string, unknown>; unset: Record<string, ''> } {
  const set: Record<string, unknown> = { status: 'queued', stage: 'queued', error: null };
  if (resume) return { set, unset: {} };
  return {
    set: { ...set, progress: 0, 'tiles.done': 0, 'tiles.total': 0, 'tiles.viewable': false },
    unset: { 'checkpoint.tileRows': '', 'checkpoint.parts': '', split: '', parts: '', preview: '' },
  };
}

/** The image queued again if it was failed; null if it was not (or is gone). */
export async function requeueFailedImage(deps: RequeueDeps, id: string): Promise<ImageDoc | null> {
  return requeueImage(deps, id, ['failed'], { resume: false });
}

/**
 * Moves the image from one of `from` to queued and adds its job. If the job cannot be added the
 * status goes back to what it was, so nothing claims to be queued without a job.
 */
export async function requeueImage(deps: RequeueDeps, id: string, from: readonly ImageState[], opts: { resume: boolean }): Promise<ImageDoc | null> {
  const before = await deps.store.get(id);
  if (!before || !from.includes(before.status)) return null;
  const { set, unset } = queuedAgain(opts.resume);
  const doc = await deps.store.transition(id, [before.status], set, Object.keys(unset).length > 0 ? { $unset: unset } : {});
  if (!doc) return null;
  try {
    await enqueueTileJob(deps.queue, id, { attempts: deps.config.retry.attempts, timeoutMs: deps.config.queueTimeoutMs });
  } catch (err) {
    await deps.store.transition(id, ['queued'], { status: before.status, stage: before.stage, error: before.error }).catch(() => null);
    throw err;
  }
  return doc;
}
