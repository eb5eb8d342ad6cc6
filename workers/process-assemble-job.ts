/**
 * The last part of a split image (docs/split-jobs.md), run by BullMQ once every band has completed:
 * the levels below the bands' from their level images (not from the original), then thumbnail,
 * manifest, descriptor last, status done; the split's intermediate files go.
 */
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { removeTree } from '../shared/remove-tree.js';
import path from 'node:path';
import { imageKeys } from '../shared/image-status.js';
import { imageTileUploader } from './image-tile-uploader.js';
import { assembleLevels } from '../shared/tiling/assemble-levels.js';
import { levelImageSize } from '../shared/tiling/band-plan.js';
import { DEFAULT_QUALITY, tilerId } from '../shared/tiling/encoders.js';
import { DESCRIPTOR, MANIFEST } from '../shared/tiling/output-dir.js';
import { deepZoomLevels, dziXml, tileCount, DEFAULT_TILE_SIZE } from '../shared/tiling/pyramid.js';
import type { TileManifest } from '../shared/tiling/tile-image.js';
import type { WorkerDeps } from './job-context.js';
import { partContext } from './part-context.js';
import { removeImageData } from './remove-image-data.js';
import { uploadFinishingFiles } from './stages/upload.js';
import type { JobOutcome } from './process-image-job.js';

export async function processAssembleJob(imageId: string, deps: WorkerDeps): Promise<JobOutcome> {
  const doc = await deps.store.get(imageId);
  if (!doc) {
    // Deleted while its bands ran: they have all stopped now, so whatever they stored late goes.
    await removeImageData(imageId, deps);
    return 'image-gone';
  }
  if (doc.status === 'done') return 'already-done';
  if (doc.status === 'failed') return 'image-failed';
  if (!doc.split) return 'stale-part'; // of an earlier run of an image queued again since (process-band-job.ts)
  const ctx = partContext(deps, doc, 'assemble');
  const { plan, format, jpegEncoder } = ctx.split;
  await mkdir(ctx.dir, { recursive: true });
  const levelImages: string[] = [];
  for (let band = 0; band < plan.bands; band++) {
    const file = path.join(ctx.dir, `level-${band}.png`);
    await ctx.s3.downloadToFile(imageKeys.bandLevelImage(imageId, band), file);
    levelImages.push(file);
  }
  const size = levelImageSize(plan);
  const uploader = imageTileUploader(ctx, {
    levels: deepZoomLevels(size.width, size.height),
    tiler: tilerId(format, DEFAULT_QUALITY, jpegEncoder),
    checkpoint: doc.checkpoint.parts?.assemble,
    persist: (cp) => ctx.report.now({ 'checkpoint.parts.assemble': cp }),
    onProgress: (inS3) => void ctx.report.progress({ 'split.tiles.assemble': inS3 }),
  });
  const levelsCut = await assembleLevels(levelImages, ctx.dir, { plan, format, jpegEncoder, sink: uploader });
  const levels = deepZoomLevels(plan.width, plan.height);
  const tiles = tileCount(levels);
  const bandBytes = Object.values(ctx.split.bytes).reduce((a, b) => a + b, 0);
  const top = levels.length - 1 - plan.shrinks;
  const manifest: TileManifest = {
    ...levelsCut,
    width: plan.width,
    height: plan.height,
    tileSize: DEFAULT_TILE_SIZE,
    levels: levels.length,
    tiles,
    // The level cut's bytes, less its top level (the bands' tiles, counted by them).
    bytes: bandBytes + levelsCut.bytes - (await levelBytes(path.join(ctx.outDir, 'image_files', String(top)))),
  };
  await writeFile(path.join(ctx.outDir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  await writeFile(path.join(ctx.outDir, DESCRIPTOR), dziXml(plan.width, plan.height, DEFAULT_TILE_SIZE, 0, format));
  await uploadFinishingFiles(ctx);
  await ctx.report.now({
    status: 'done',
    stage: 'done',
    progress: 1,
    'tiles.done': tiles,
    'tiles.viewable': true,
    'tiles.total': tiles,
    'parts.done': plan.bands,
    format,
    levels: levels.length,
    width: plan.width,
    height: plan.height,
  });
  deps.metrics?.pixelsTiled.inc(plan.width * plan.height);
  await deps.s3.deletePrefix(imageKeys.work(imageId));
  await removeTree(ctx.dir);
  return 'done';
}

async function levelBytes(dir: string): Promise<number> {
  let bytes = 0;
  for (const name of await readdir(dir)) bytes += (await stat(path.join(dir, name))).size;
  return bytes;
}
