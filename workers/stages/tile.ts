/**
 * Stages 2 and 3: probe the original (refusing bad input from its header alone),
 * then cut the pyramid, thumbnail and optimised tiles into the local out folder
 * with the same library `hugemap tile` uses, uploading each row of tiles to S3
 * as soon as the tiler has finished it (tile-row-uploader.ts).
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { imageTileUploader } from '../image-tile-uploader.js';
import { DEFAULT_QUALITY, defaultFormat, tilerId } from '../../shared/tiling/encoders.js';
import { probeImage, type ImageProbe } from '../../shared/tiling/probe.js';
import { deepZoomLevels, firstViewLevels, levelsComplete, tileCount, tileExtension } from '../../shared/tiling/pyramid.js';
import { jpegEncoderFor, tileImage, type TileManifest } from '../../shared/tiling/tile-image.js';
import { allRows } from '../../shared/tiling/tile-rows.js';
import { TILES_DIR } from '../../shared/tiling/output-dir.js';
import { overallProgress, type JobContext } from '../job-context.js';
import { assertPixelQuota } from './pixel-quota.js';

export async function probeOriginal(ctx: JobContext): Promise<ImageProbe> {
  await ctx.report.now({ stage: 'probe' });
  const probe = await probeImage(ctx.originalPath, { maxPixels: ctx.config.maxPixels, maxBufferedPixels: ctx.config.maxBufferedPixels });
  await assertPixelQuota(ctx, probe.width, probe.height);
  const levels = deepZoomLevels(probe.width, probe.height, 256);
  await ctx.report.now({
    width: probe.width,
    height: probe.height,
    // Known from the header: a viewer opening the image before it is done (on its preview) needs it for tile URLs.
    format: defaultFormat(probe.hasAlpha),
    levels: levels.length,
    'tiles.total': tileCount(levels),
    bytes: probe.bytes,
  });
  return probe;
}

/**
 * Tiles the original (or reuses a complete folder from an earlier attempt here); every tile is in S3
 * when it returns. `previewStored` settles once the preview is stored or given up: the first-view
 * tiles are not reported viewable before it (a viewer opens on the preview, then adds them).
 */
export async function tileOriginal(ctx: JobContext, probe: ImageProbe, previewStored: Promise<void> = Promise.resolve()): Promise<TileManifest> {
  const format = defaultFormat(probe.hasAlpha);
  const quality = DEFAULT_QUALITY;
  const levels = deepZoomLevels(probe.width, probe.height, 256);
  const total = tileCount(levels);
  const viewLevels = firstViewLevels(levels);
  await ctx.report.now({ stage: 'tile' });
  let previewSettled = false;
  void previewStored.then(
    () => (previewSettled = true),
    () => (previewSettled = true),
  );
  const previous = await completedManifest(ctx.outDir);
  // The checkpoint names the encoder: the two JPEG encoders write different bytes for the same tile.
  // Decided once here and handed to tileImage, so the id and the tiles cannot disagree (manifests from before the option have none).
  const jpegEncoder = previous ? (previous.jpegEncoder ?? null) : jpegEncoderFor(ctx.config.tileJpegEncoder, ctx.originalPath, probe, format);
  const uploader = imageTileUploader(ctx, {
    levels,
    tiler: tilerId(previous?.format ?? format, quality, jpegEncoder),
    checkpoint: ctx.doc.checkpoint.tileRows,
    // Durable before the window moves on: written now, not throttled. Once every row of the first-view
    // levels is in S3 (and the preview settled), the status says so: a viewer can open the image before it is done.
    persist: (cp) =>
      ctx.report.now({ 'checkpoint.tileRows': cp, ...(previewSettled && levelsComplete(cp.rows, viewLevels) ? { 'tiles.viewable': true } : {}) }),
    onProgress: (inS3) => void ctx.report.progress({ 'tiles.done': inS3, progress: overallProgress('tile', inS3 / total) }),
  });

  if (previous) {
    for (const row of allRows(path.join(ctx.outDir, TILES_DIR), TILES_DIR, levels, tileExtension(previous.format))) uploader.row(row);
    await uploader.drain();
    return previous;
  }
  const manifest = await tileImage(ctx.originalPath, ctx.outDir, {
    format,
    quality,
    jpegEncoder: jpegEncoder ?? undefined,
    maxPixels: ctx.config.maxPixels,
    maxBufferedPixels: ctx.config.maxBufferedPixels,
    tmpDir: ctx.dir,
    sink: uploader,
  });
  ctx.logger.info({ id: ctx.id, ...uploader.stats }, 'tiles cut and stored');
  await ctx.report.now({ format: manifest.format, levels: manifest.levels, 'tiles.total': manifest.tiles, 'tiles.done': manifest.tiles });
  return manifest;
}

/** A folder from an earlier attempt counts only if its descriptor exists: it is written last. */
async function completedManifest(outDir: string): Promise<TileManifest | null> {
  const dzi = await stat(path.join(outDir, 'image.dzi')).catch(() => null);
  if (!dzi) return null;
  try {
    return JSON.parse(await readFile(path.join(outDir, 'manifest.json'), 'utf8')) as TileManifest;
  } catch {
    return null;
  }
}
