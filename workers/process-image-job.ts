/**
 * One tiling job as a straight line of idempotent stages:
 *   fetch original -> probe -> preview (JPEG only) -> tile (+ thumbnail, optimise; rows of tiles
 *   uploaded as they are cut) -> upload the rest, descriptor last -> done
 * Each stage reads what earlier attempts left (local files, the checkpoint in
 * MongoDB, objects already in S3) and does only what is missing.
 */
import { rm } from 'node:fs/promises';
import { fetchOriginal } from './stages/fetch-original.js';
import { probeOriginal, tileOriginal } from './stages/tile.js';
import { storePreview } from './stages/preview.js';
import { uploadFinishingFiles } from './stages/upload.js';
import { jobPaths, ThrottledReporter, type JobContext, type WorkerDeps } from './job-context.js';

export type JobOutcome = 'done' | 'already-done' | 'image-gone';

export async function processImageJob(imageId: string, deps: WorkerDeps): Promise<JobOutcome> {
  const doc = await deps.store.get(imageId);
  if (!doc) return 'image-gone'; // deleted while queued: nothing to do
  if (doc.status === 'done') return 'already-done';

  const started = await deps.store.update(
    imageId,
    { status: 'processing', stage: 'fetch', error: null },
    { $inc: { attempts: 1 } },
  );
  if (!started) return 'image-gone';

  const ctx: JobContext = {
    ...deps,
    ...jobPaths(deps.config.workDir, imageId),
    id: imageId,
    doc: started,
    report: new ThrottledReporter(async (set) => {
      const updated = await deps.store.update(imageId, set);
      if (!updated) throw new ImageDeletedError(imageId);
    }),
  };

  await fetchOriginal(ctx);
  releaseGarbage();
  const probe = await probeOriginal(ctx);
  await storePreview(ctx, probe);
  const manifest = await tileOriginal(ctx, probe);
  await uploadFinishingFiles(ctx);
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
  await rm(ctx.dir, { recursive: true, force: true });
  return 'done';
}

/**
 * One full collection before the cut, when the worker runs with --expose-gc (as it is started:
 * workers/process-settings.ts). The download leaves its socket buffers, 20-30 MB at 944 MP, and
 * the previous job its garbage, for V8 to collect whenever it likes; the cut then adds about
 * 200 MB of libvips strips on top (docs/memory.md). A collection here costs 35-70 ms (measured on a
 * 45 MB heap with the worker's modules loaded), once a job.
 */
function releaseGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** The status document vanished mid-job: the image was deleted, so stop quietly. */
export class ImageDeletedError extends Error {
  constructor(id: string) {
    super(`image ${id} was deleted while it was being processed`);
  }
}
