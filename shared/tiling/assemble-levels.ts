/**
 * The assembling job's cut (docs/split-jobs.md): the bands' level images joined top to bottom are
 * the image's level top-k, exactly; cut as one image, its pyramid is levels 0..top-k of the
 * image's, with the same level numbers. Levels below top-k go to the sink (top-k itself is the
 * bands'); the thumbnail comes from this pyramid as an unsplit cut's does.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { DEFAULT_QUALITY, type JpegEncoder, type TileFormat } from './encoders.js';
import { levelImageSize, type BandPlan } from './band-plan.js';
import { maxLevelFor } from './pyramid.js';
import { tileImage, type TileManifest } from './tile-image.js';
import type { TileSink } from './tile-rows.js';

export interface AssembleOptions {
  plan: BandPlan;
  format: TileFormat;
  quality?: number;
  jpegEncoder: JpegEncoder | null;
  sink?: TileSink;
}

/** Joins `levelImages` (band order) into workDir and cuts them into workDir/out; the manifest is the level image's. */
export async function assembleLevels(levelImages: string[], workDir: string, opts: AssembleOptions): Promise<TileManifest> {
  const { plan } = opts;
  if (levelImages.length !== plan.bands) throw new Error(`${levelImages.length} level images for ${plan.bands} bands`);
  const size = levelImageSize(plan);
  const joined = join(workDir, 'levels.tif');
  // arrayjoin sizes every cell like the largest image: the last band's cell is cut back to the image.
  await sharp(levelImages, { join: { across: 1 }, sequentialRead: true, limitInputPixels: false })
    .extract({ left: 0, top: 0, width: size.width, height: size.height })
    .tiff({ compression: 'none', predictor: 'none', bigtiff: true })
    .toFile(joined);
  const bandsOwn = maxLevelFor(plan.width, plan.height) - plan.shrinks;
  const sink = opts.sink;
  return tileImage(joined, join(workDir, 'out'), {
    format: opts.format,
    quality: opts.quality ?? DEFAULT_QUALITY,
    jpegEncoder: opts.jpegEncoder ?? undefined,
    maxPixels: size.width * size.height,
    tmpDir: workDir,
    sink: sink && {
      row: (row) => {
        if (row.level < bandsOwn) sink.row(row);
      },
      drain: () => sink.drain(),
    },
  });
}
