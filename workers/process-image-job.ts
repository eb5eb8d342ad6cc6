/**
 * One tiling job as a straight line of idempotent stages:
 *   fetch original -> probe -> preview (JPEG only; beside the cut up to 300 MP) -> tile (+ thumbnail,
 *   optimise; rows of tiles uploaded as they are cut) -> upload the rest, descriptor last -> done
 * Above WORKER_SPLIT_PIXELS the tile stage is handed to band jobs and an assembling job instead
 * (stages/split.ts, process-band-job.ts, process-assemble-job.ts).
 * Each stage reads what earlier attempts left (local files, the checkpoint in
 * MongoDB, objects already in S3) and does only what is missing.
 */
import { removeTree } from '../shared/remove-tree.js';
import { fetchOriginal } from './stages/fetch-original.js';
import { releaseGarbage } from './release-garbage.js';
import { probeOriginal, tileOriginal } from './stages/tile.js';
import { previewBesideCut, storePreview } from './stages/preview.js';
import { uploadFinishingFiles } from './stages/upload.js';
import { bandPlanFor, splitIntoBands } from './stages/split.js';
import { jobPaths, ThrottledReporter, type JobContext, type WorkerDeps } from './job-context.js';
import type { ImageDoc } from '../shared/image-status.js';
import type { JobStage } from './metrics.js';

/**
 * `split`: the image was handed to band jobs (docs/split-jobs.md); `image-failed`: a part found its
 * image already failed; `stale-part`: a part of an earlier run of its image, which failed and was
 * queued again and has not been split again yet (shared/requeue-image.ts): nothing to do.
 */
export type JobOutcome = 'done' | 'already-done' | 'image-gone' | 'split' | 'image-failed' | 'stale-part';

export interface JobHooks {
  /** Called once the attempt is counted in the status document (its `attempts` is this attempt's number). */
  onStarted?: (doc: ImageDoc) => void;
}

export async function processImageJob(imageId: string, deps: WorkerDeps, hooks: JobHooks = {}): Promise<JobOutcome> {
  const doc = await deps.store.get(imageId);
  if (!doc) return 'image-gone'; // deleted while queued: nothing to do
  if (doc.status === 'done') return 'already-done';

  const started = await deps.store.update(
    imageId,
    { status: 'processing', stage: 'fetch', error: null },
    { $inc: { attempts: 1 } },
  );
  if (!started) return 'image-gone';
  hooks.onStarted?.(started);

  // A resumed job re-runs stages whose own fractions start again from 0: the progress shown never
  // goes below what an earlier attempt already reported.
  let shownProgress = started.progress ?? 0;
  const ctx: JobContext = {
    ...deps,
    // Stage log lines carry the attempt as the status document counts it.
    logger: deps.logger.child({ attempt: started.attempts }),
    ...jobPaths(deps.config.workDir, imageId),
    id: imageId,
    doc: started,
    report: new ThrottledReporter(async (set) => {
      if (typeof set.progress === 'number') {
        shownProgress = Math.max(shownProgress, set.progress);
        set = { ...set, progress: shownProgress };
      }
      const updated = await deps.store.update(imageId, set);
      if (!updated) throw new ImageDeletedError(imageId);
    }),
  };

  const stage = stageTimer(deps);
  await stage('fetch', () => fetchOriginal(ctx));
  releaseGarbage();
  const probe = await stage('probe', () => probeOriginal(ctx));
  const plan = deps.splitQueue ? bandPlanFor(ctx.doc, probe, deps.config.workerSplitPixels) : null;
  if (plan && deps.splitQueue) {
    await splitIntoBands(ctx, probe, plan, deps.splitQueue, stage('preview', () => storePreview(ctx, probe)));
    await removeTree(ctx.dir);
    return 'split';
  }
  let previewStored: Promise<void> = Promise.resolve();
  if (previewBesideCut(probe)) previewStored = storePreview(ctx, probe);
  else await stage('preview', () => storePreview(ctx, probe));
  // Its file is in the job's folder, and 'done' must not come before the preview's link.
  const manifest = await stage('tile', () => tileOriginal(ctx, probe, previewStored).finally(() => previewStored));
  await stage('finish', () => uploadFinishingFiles(ctx));
  await ctx.report.now({
    status: 'done',
    stage: 'done',
    progress: 1,
    'tiles.done': manifest.tiles,
    'tiles.viewable': true,
    'tiles.total': manifest.tiles,
    format: manifest.format,
    levels: manifest.levels,
    width: manifest.width,
    height: manifest.height,
  });
  deps.metrics?.pixelsTiled.inc(manifest.width * manifest.height);
  await removeTree(ctx.dir);
  return 'done';
}

/** Times each stage when the worker has metrics (workers/metrics.ts), else just runs it. */
function stageTimer(deps: WorkerDeps): <T>(name: JobStage, run: () => Promise<T>) => Promise<T> {
  const { metrics } = deps;
  return (name, run) => (metrics ? metrics.timeStage(name, run) : run());
}

/** The status document vanished mid-job: the image was deleted, so stop quietly. */
export class ImageDeletedError extends Error {
  constructor(id: string) {
    super(`image ${id} was deleted while it was being processed`);
  }
}
