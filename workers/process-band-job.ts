/**
 * One band of a split image (docs/split-jobs.md): fetch the original (a plain JPEG: only the band's
 * bytes, as a JPEG slice), cut the band with its rows
 * going to S3 as they are finished (its own tile-row checkpoint, so a killed band resumes
 * elsewhere), store its level image for the assembling job, count itself finished.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { removeTree } from '../shared/remove-tree.js';
import { join } from 'node:path';
import { imageKeys, type SplitState } from '../shared/image-status.js';
import type { TileRowUploader, TileRowUploadStats } from '../shared/storage/tile-row-uploader.js';
import { imageTileUploader } from './image-tile-uploader.js';
import { bandAt, type BandColumn, type BandPlan } from '../shared/tiling/band-plan.js';
import { cutBand, cutBandSlice } from '../shared/tiling/band-cut.js';
import { writeJpegSlice } from '../shared/tiling/jpeg-slice.js';
import { DEFAULT_QUALITY, tilerId } from '../shared/tiling/encoders.js';
import type { JobContext, WorkerDeps } from './job-context.js';
import { partContext, type PartKey, type ProgressKey } from './part-context.js';
import { fetchOriginal } from './stages/fetch-original.js';
import type { PyramidLevel } from '../shared/tiling/pyramid.js';
import { removeImageData } from './remove-image-data.js';
import type { JobOutcome } from './process-image-job.js';
import { purgeFreedMemory } from './allocator-purge.js';
import { releaseGarbage } from './release-garbage.js';

/**
 * The band's JPEG slice, made from the original's header and the band's bytes, fetched by range
 * (jpeg-slice.ts); null for images without a slice index, or one the slice cannot be made for.
 */
async function fetchSlice(ctx: JobContext & { split: SplitState }, index: number): Promise<{ path: string; cropTop: number } | null> {
  const slices = ctx.split.jpegSlices;
  const slice = slices?.slices[index];
  if (!slices || !slice) return null;
  await mkdir(ctx.dir, { recursive: true });
  const key = imageKeys.original(ctx.id);
  const [headerPath, bytesPath, path] = ['header.bin', 'band.bin', 'slice.jpg'].map((f) => join(ctx.dir, f)) as [string, string, string];
  await ctx.s3.downloadToFile(key, headerPath, { start: 0, end: slices.headerBytes - 1 });
  await ctx.s3.downloadToFile(key, bytesPath, { start: slice.startByte, end: slice.endByte - 1 });
  const made = await writeJpegSlice(await readFile(headerPath), bytesPath, slice, path);
  await Promise.all([rm(headerPath, { force: true }), rm(bytesPath, { force: true })]);
  return made ? { path, cropTop: slice.cropTop } : null;
}

export async function processBandJob(imageId: string, index: number, deps: WorkerDeps): Promise<JobOutcome> {
  const doc = await deps.store.get(imageId);
  if (!doc) return 'image-gone';
  if (doc.status === 'done') return 'already-done';
  if (doc.status === 'failed') return 'image-failed'; // another part failed for good: nothing to add
  if (!doc.split) return 'stale-part'; // queued behind whole images while its image failed and was queued again
  const key: PartKey = `b${index}`;
  const ctx = partContext(deps, doc, key);
  if (ctx.split.finished.includes(index)) return 'already-done';
  const { plan, format, jpegEncoder } = ctx.split;
  const band = bandAt(plan, index);

  const slice = await fetchSlice(ctx, index);
  if (!slice) await fetchOriginal(ctx);
  releaseGarbage(); // the download's dead socket buffers (a 10 GP TIFF is 922 MB of them), as a tile job does
  purgeFreedMemory(); // what the previous part freed goes back before this cut allocates its strips
  // Each column the band is cut in (one, unless it is read from a TIFF and wider than the image's column
  // width, SplitState.columnWidth: band-cut.ts) has its own uploader and checkpoint.
  const uploaders: TileRowUploader[] = [];
  const sinkFor = (column: BandColumn, levels: PyramidLevel[]) => {
    const at = columnKey(plan, index, column);
    const uploader = imageTileUploader(ctx, {
      levels,
      tiler: tilerId(format, DEFAULT_QUALITY, jpegEncoder),
      checkpoint: doc.checkpoint.parts?.[at],
      persist: (cp) => ctx.report.now({ [`checkpoint.parts.${at}`]: cp }),
      onProgress: (inS3) => void ctx.report.progress({ [`split.tiles.${at}`]: inS3 }),
    });
    uploaders.push(uploader);
    return uploader;
  };
  const options = { plan, band, format, jpegEncoder, maxPixels: ctx.config.maxPixels, maxBufferedPixels: ctx.config.maxBufferedPixels, maxColumnWidth: ctx.split.columnWidth ?? ctx.config.workerSplitColumnWidth, sinkFor, beforeDecode: purgeFreedMemory };
  const cut = slice ? await cutBandSlice(slice.path, slice.cropTop, ctx.dir, options) : await cutBand(ctx.originalPath, ctx.dir, options);
  await ctx.s3.putFile(imageKeys.bandLevelImage(imageId, index), cut.levelImage, { contentType: 'image/png' });
  const counts: Record<string, number> = {};
  for (const c of cut.columns) {
    const at = columnKey(plan, index, c.column);
    counts[`split.tiles.${at}`] = c.tiles;
    counts[`split.bytes.${at}`] = c.bytes;
  }
  await ctx.report.now(counts);
  const after = await deps.store.update(imageId, {}, { $addToSet: { 'split.finished': index } });
  if (!after) {
    await removeImageData(imageId, deps); // the band's own folder goes in runJob, as for every image-gone part
    return 'image-gone';
  }
  await deps.store.update(imageId, {}, { $max: { 'parts.done': after.split?.finished.length ?? 0 } });
  // A part that failed for good meanwhile removed the image's tiles; these came after.
  if (after.status === 'failed') await removeImageData(imageId, deps, { keepOriginal: true });
  await removeTree(ctx.dir);
  ctx.logger.info({ imageId, band: index, read: cut.read, columns: cut.columns.length, tiles: cut.tiles, ...addStats(uploaders) }, 'band cut and stored');
  return 'done';
}

/** A column's key in the split's tiles, bytes and checkpoints: the band's own when it is cut whole. */
function columnKey(plan: BandPlan, index: number, column: BandColumn): ProgressKey {
  return column.width === plan.width ? `b${index}` : `b${index}c${column.index}`;
}

function addStats(uploaders: TileRowUploader[]): TileRowUploadStats {
  const total: TileRowUploadStats = { uploaded: 0, skipped: 0, checked: 0, bytes: 0 };
  for (const { stats } of uploaders) for (const k of Object.keys(total) as (keyof TileRowUploadStats)[]) total[k] += stats[k];
  return total;
}
