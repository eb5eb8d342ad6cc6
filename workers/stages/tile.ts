/**
 * Stages 2 and 3: probe the original (refusing bad input from its header alone),
 * then cut the pyramid, thumbnail and optimised tiles into the local out folder
 * with the same library `hugemap tile` uses.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { probeImage } from '../../shared/tiling/probe.js';
import { deepZoomLevels, tileCount } from '../../shared/tiling/pyramid.js';
import { tileImage, type TileManifest } from '../../shared/tiling/tile-image.js';
import { overallProgress, type JobContext } from '../job-context.js';

export async function probeOriginal(ctx: JobContext): Promise<void> {
  await ctx.report.now({ stage: 'probe' });
  const probe = await probeImage(ctx.originalPath, { maxPixels: ctx.config.maxPixels, maxBufferedPixels: ctx.config.maxBufferedPixels });
  const levels = deepZoomLevels(probe.width, probe.height, 256);
  await ctx.report.now({
    width: probe.width,
    height: probe.height,
    levels: levels.length,
    'tiles.total': tileCount(levels),
    bytes: probe.bytes,
  });
}

export async function tileOriginal(ctx: JobContext): Promise<TileManifest> {
  const previous = await completedManifest(ctx.outDir);
  if (previous) return previous;
  await ctx.report.now({ stage: 'tile' });
  const manifest = await tileImage(ctx.originalPath, ctx.outDir, {
    maxPixels: ctx.config.maxPixels,
    maxBufferedPixels: ctx.config.maxBufferedPixels,
    tmpDir: ctx.dir,
    onProgress: (p) => {
      void ctx.report.progress({ progress: overallProgress('tile', p.tilesTotal ? p.tilesDone / p.tilesTotal : 0) });
    },
  });
  await ctx.report.now({ format: manifest.format, levels: manifest.levels, 'tiles.total': manifest.tiles });
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
