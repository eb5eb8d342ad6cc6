/**
 * One band of a split image (docs/split-jobs.md): fetch the original, cut the band with its rows
 * going to S3 as they are finished (its own tile-row checkpoint, so a killed band resumes
 * elsewhere), store its level image for the assembling job, count itself finished.
 */
import { readFile, rm } from 'node:fs/promises';
import { imageKeys } from '../shared/image-status.js';
import { TileRowUploader } from '../shared/storage/tile-row-uploader.js';
import { bandAt } from '../shared/tiling/band-plan.js';
import { bandLevels, cutBand } from '../shared/tiling/band-cut.js';
import { DEFAULT_QUALITY, tilerId } from '../shared/tiling/encoders.js';
import type { WorkerDeps } from './job-context.js';
import { partContext, partDirName, type PartKey } from './part-context.js';
import { fetchOriginal } from './stages/fetch-original.js';
import { removeImageData } from './remove-image-data.js';
import type { JobOutcome } from './process-image-job.js';

export async function processBandJob(imageId: string, index: number, deps: WorkerDeps): Promise<JobOutcome> {
  const doc = await deps.store.get(imageId);
  if (!doc) return 'image-gone';
  if (doc.status === 'done') return 'already-done';
  if (doc.status === 'failed') return 'image-failed'; // another part failed for good: nothing to add
  const key: PartKey = `b${index}`;
  const ctx = partContext(deps, doc, key);
  if (ctx.split.finished.includes(index)) return 'already-done';
  const { plan, format, jpegEncoder } = ctx.split;
  const band = bandAt(plan, index);

  await fetchOriginal(ctx);
  const uploader = new TileRowUploader(ctx.s3, {
    keyPrefix: imageKeys.prefix(imageId),
    levels: bandLevels(plan, band),
    tiler: tilerId(format, DEFAULT_QUALITY, jpegEncoder),
    checkpoint: doc.checkpoint.parts?.[key],
    concurrency: ctx.config.workerTilePuts,
    persist: (cp) => ctx.report.now({ [`checkpoint.parts.${key}`]: cp }),
    onProgress: (inS3) => void ctx.report.progress({ [`split.tiles.${key}`]: inS3 }),
  });
  const cut = await cutBand(ctx.originalPath, ctx.dir, {
    plan,
    band,
    format,
    jpegEncoder,
    maxPixels: ctx.config.maxPixels,
    maxBufferedPixels: ctx.config.maxBufferedPixels,
    sink: uploader,
  });
  await ctx.s3.putBody(imageKeys.bandLevelImage(imageId, index), await readFile(cut.levelImage), { contentType: 'image/png' });
  await ctx.report.now({ [`split.tiles.${key}`]: cut.tiles, [`split.bytes.${key}`]: cut.bytes });
  const after = await deps.store.update(imageId, {}, { $addToSet: { 'split.finished': index } });
  if (!after) {
    await removeImageData(imageId, deps, { localDirs: [partDirName(imageId, key)] });
    return 'image-gone';
  }
  await deps.store.update(imageId, {}, { $max: { 'parts.done': after.split?.finished.length ?? 0 } });
  // A part that failed for good meanwhile removed the image's tiles; these came after.
  if (after.status === 'failed') await removeImageData(imageId, deps, { keepOriginal: true });
  await rm(ctx.dir, { recursive: true, force: true });
  ctx.logger.info({ imageId, band: index, tiles: cut.tiles, ...uploader.stats }, 'band cut and stored');
  return 'done';
}
