/**
 * One band of a split image (band-plan.ts, docs/split-jobs.md), cut with tileImage like any image
 * and halved `shrinks` times into the level image the assembling job joins. Only the rows of the
 * levels the band owns reach the sink, under the image's tile names; their level and row numbers
 * stay the band's own (the sink's checkpoint). How the band's rows are read (BandCut.read):
 * - 'slice': a plain JPEG's band from its slice (jpeg-slice.ts), margin rows cropped in libvips;
 * - 'original': a TIFF the direct encoder cuts as it is, its rows cropped from the original in
 *   libvips (a tiled TIFF's loader reads only the band's tiles); a band wider than
 *   `maxColumnWidth` is cut as columns, one after another (band-plan.ts, bandColumns);
 * - 'band-tiff': anything else, its rows decoded once into an uncompressed TIFF (rows above it
 *   decoded and discarded: libvips reads sequentially), which is then cut (as columns, like a
 *   TIFF's, by the direct encoder) and halved.
 */
import { rm, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { HugemapError } from '../errors.js';
import { DEFAULT_QUALITY, type JpegEncoder, type TileFormat } from './encoders.js';
import { bandColumns, bandLevelInImage, DEFAULT_MAX_COLUMN_WIDTH, levelImageSize, wholeWidth, type Band, type BandColumn, type BandPlan } from './band-plan.js';
import { writeIntermediate, type Intermediate } from './intermediate.js';
import { joinLevelImages, writeLevelImage, writeLevelImageFromPixels } from './level-image.js';
import { decodedPixels } from './vips-raw-rows.js';
import { classifyVipsError } from './vips-errors.js';
import { DEFAULT_MAX_BUFFERED_PIXELS, probeImage, type ImageProbe } from './probe.js';
import { deepZoomLevels, type PyramidLevel } from './pyramid.js';
import { colourPipeline, sharpInputOptions, type SourceOptions } from './source.js';
import { jpegEncoderFor, tileImage } from './tile-image.js';
import { TILES_DIR } from './output-dir.js';
import type { TileRow, TileSink } from './tile-rows.js';
import type { Crop } from './vips-input.js';

export interface BandCutOptions {
  plan: BandPlan;
  band: Band;
  format: TileFormat;
  quality?: number;
  /** The encoder the whole image was given (the worker decides it once from the original). */
  jpegEncoder: JpegEncoder | null;
  maxPixels: number;
  maxBufferedPixels?: number;
  /**
   * The sink for a column's owned rows, named as the image's tiles (`levels`: the column's pyramid,
   * its own level numbers, what a checkpoint counts rows of); asked for as the column's cut starts.
   * A band cut whole is one column, wholeWidth(plan).
   */
  sinkFor?: (column: BandColumn, levels: PyramidLevel[]) => TileSink;
  /**
   * A band read from a TIFF (the original, or the band TIFF of other inputs when the direct encoder
   * cuts it) and wider than this is cut as columns of at most this width (bandColumns); 0: always
   * whole. A JPEG slice is always cut whole: every column would decode the band's full rows again.
   * @defaultValue DEFAULT_MAX_COLUMN_WIDTH
   */
  maxColumnWidth?: number;
  /**
   * Called before each libvips pass over the band's rows (each column's cut and, from a JPEG slice
   * or a TIFF, its level image), once the band's rows are where they are read from: a worker hands
   * the allocator's freed pages back there (workers/allocator-purge.ts), as it does before a band.
   */
  beforeDecode?: () => void;
}

export interface BandCut {
  /** Tiles of the levels this band owns, and their bytes, per column cut (one for a band cut whole). */
  columns: { column: BandColumn; tiles: number; bytes: number }[];
  /** Of all its columns. */
  tiles: number;
  bytes: number;
  /** The band halved plan.shrinks times, losslessly (PNG): the assembling job's input. */
  levelImage: string;
  /** Where the band's rows came from (the module's comment). */
  read: 'slice' | 'original' | 'band-tiff';
}

/** A column's pyramid, by its own level numbers (what a TileRowUploader for it is given). */
function columnLevels(band: Band, column: BandColumn): PyramidLevel[] {
  return deepZoomLevels(column.width, band.height);
}

/** Cuts one band of `inputPath` in `workDir` (its own folder: every file here is the band's). */
export async function cutBand(inputPath: string, workDir: string, opts: BandCutOptions): Promise<BandCut> {
  const { plan, band, format } = opts;
  const maxBufferedPixels = opts.maxBufferedPixels ?? DEFAULT_MAX_BUFFERED_PIXELS;
  const probe = await probeImage(inputPath, { maxPixels: opts.maxPixels, maxBufferedPixels });
  if (probe.width !== plan.width || probe.height !== plan.height) {
    throw new Error(`band plan is for ${plan.width}x${plan.height}, the image is ${probe.width}x${probe.height}`);
  }
  if (readsRowsFromOriginal(inputPath, probe, opts)) {
    return cutBandRows({ path: inputPath, format: 'tiff', top: band.top }, workDir, opts, 'original');
  }
  const source: SourceOptions = {
    limitInputPixels: opts.maxPixels,
    orientation: probe.orientation,
    flatten: probe.hasAlpha && format === 'jpeg',
    ignoreIcc: probe.srgbProfile,
  };
  const bandTiff = join(workDir, 'band.tif');
  const levelImage = join(workDir, 'level.png');
  let intermediate: Intermediate | undefined;
  try {
    if (probe.needsIntermediate) intermediate = await writeIntermediate(inputPath, source, workDir, { maxBufferedPixels });
    const input = intermediate ? intermediate.open(sharpInputOptions(source)) : sharp(inputPath, sharpInputOptions(source));
    // The same colour pipeline as an unsplit cut, so the band's pixels are the unsplit image's rows.
    const bandPixels = colourPipeline(input.extract({ left: 0, top: band.top, width: plan.width, height: band.height }), source)
      .tiff({ compression: 'none', predictor: 'none', bigtiff: true });
    await withoutOrientationTag(bandPixels).toFile(bandTiff);
    // No pixel limit here: the band was checked against maxPixels as the original, and sharp's own
    // default (268 MP) refused every band of a 10 GP image (40960 x 24576 px) with an internal error.
    if (((await sharp(bandTiff, { limitInputPixels: false }).metadata()).orientation ?? 1) !== 1) throw new HugemapError('HUGEMAP_ERR_INTERNAL', 'the band kept an EXIF orientation: it would be rotated twice');
    await intermediate?.remove();
    intermediate = undefined;

    // The direct encoder reads columns of the band TIFF (strips of the whole width, uncompressed:
    // reading them again costs copies, no decoding); the sharp encoder cuts it whole.
    const columns = format === 'jpeg' && opts.jpegEncoder === 'direct' ? columnsOf(plan, opts) : [wholeWidth(plan)];
    const cuts = await cutColumns(bandTiff, columns.length > 1 ? 0 : undefined, columns, workDir, opts);
    await writeLevelImage(bandTiff, { width: plan.width, height: band.height, alpha: probe.hasAlpha && format !== 'jpeg' }, plan.shrinks, levelImage);
    return { columns: cuts, ...totals(cuts), levelImage, read: 'band-tiff' };
  } catch (err) {
    // A damaged original shows first here, where the band's rows are decoded: the same codes as an unsplit cut.
    throw classifyVipsError(inputPath, err);
  } finally {
    await intermediate?.remove();
    await rm(bandTiff, { force: true });
  }
}

/**
 * A TIFF that the direct encoder cuts as it is (8-bit sRGB, no alpha, no rotation): dzsave and the
 * level image read the band's rows from the original, as a JPEG band reads its slice: no band file
 * (3 GB for each band of the 10 GP test TIFF) written and read back, the same tiles and level image
 * (docs/split-jobs.md, "How a band reads its rows").
 */
function readsRowsFromOriginal(inputPath: string, probe: ImageProbe, opts: BandCutOptions): boolean {
  return probe.format === 'tiff' && opts.format === 'jpeg' && opts.jpegEncoder === 'direct' && probe.space === 'srgb' &&
    !probe.needsIntermediate && jpegEncoderFor('direct', inputPath, probe, 'jpeg') === 'direct';
}

/**
 * One band of a plain JPEG from its slice (jpeg-slice.ts: the band's rows and margin rows as a JPEG
 * of their own, `cropTop` margin rows above the band): no rows above the band are decoded and no
 * uncompressed copy is written. The same tiles and level image as cutBand's.
 */
export async function cutBandSlice(slicePath: string, cropTop: number, workDir: string, opts: BandCutOptions): Promise<BandCut> {
  return cutBandRows({ path: slicePath, format: 'jpeg', top: cropTop }, workDir, opts, 'slice');
}

/**
 * The band's rows `source.top..` of a JPEG or TIFF, cut by the direct encoder with the rest cropped
 * in libvips, then decoded once more, streamed, for the level image; a wide TIFF's column by column,
 * their level images joined.
 */
async function cutBandRows(source: { path: string; format: 'jpeg' | 'tiff'; top: number }, workDir: string, opts: BandCutOptions, read: BandCut['read']): Promise<BandCut> {
  const { plan, band } = opts;
  if (opts.format !== 'jpeg' || opts.jpegEncoder !== 'direct') throw new Error('a band\'s rows are cut from its input only by the direct JPEG encoder');
  const levelImage = join(workDir, 'level.png');
  const columns = source.format === 'tiff' ? columnsOf(plan, opts) : [wholeWidth(plan)];
  const columnImages: string[] = [];
  try {
    // One after the other: run side by side, the cut and the level image's decode took a worker to
    // 323-357 MB peak RSS on the 472 MP image (bench --split), over the 300 MB bound; one at a time, 253-267 MB.
    const cuts = await cutColumns(source.path, source.top, columns, workDir, opts);
    for (const column of columns) {
      const image = columns.length === 1 ? levelImage : join(workDir, `level-c${column.index}.png`);
      opts.beforeDecode?.();
      await writeLevelImageFromPixels(decodedPixels(source.path, source.format, cropOf(band, column, source.top)), { width: column.width, height: band.height }, plan.shrinks, image);
      columnImages.push(image);
    }
    if (columns.length > 1) await joinLevelImages(columnImages, levelImageSize({ ...plan, height: band.height }), levelImage);
    return { columns: cuts, ...totals(cuts), levelImage, read };
  } catch (err) {
    throw classifyVipsError(source.path, err);
  } finally {
    if (columns.length > 1) await Promise.all(columnImages.map((f) => rm(f, { force: true })));
  }
}

/** The band's columns as `maxColumnWidth` asks (bandColumns). */
function columnsOf(plan: BandPlan, opts: BandCutOptions): BandColumn[] {
  return bandColumns(plan, opts.maxColumnWidth ?? DEFAULT_MAX_COLUMN_WIDTH);
}

/** The band's pixels of `column` in an input whose band starts at row `top`. */
function cropOf(band: Band, column: BandColumn, top: number): Crop {
  return { left: column.left, top, width: column.width, height: band.height };
}

/**
 * Cuts `columns` of the band in `input` one after another, its rows from `top` on (undefined: the
 * input is the band, cut whole, uncropped).
 */
async function cutColumns(input: string, top: number | undefined, columns: BandColumn[], workDir: string, opts: BandCutOptions): Promise<BandCut['columns']> {
  const cuts: BandCut['columns'] = [];
  for (const column of columns) {
    // What the pass before freed a moment ago: without a purge the next pass started on top of it
    // (a column of the 10 GP TIFF's band: 296 MB where its cut alone held 256).
    opts.beforeDecode?.();
    cuts.push({ column, ...(await cutOwnedLevels(input, workDir, opts, column, top === undefined ? undefined : cropOf(opts.band, column, top))) });
  }
  return cuts;
}

function totals(cuts: BandCut['columns']): { tiles: number; bytes: number } {
  return { tiles: cuts.reduce((n, c) => n + c.tiles, 0), bytes: cuts.reduce((n, c) => n + c.bytes, 0) };
}

/**
 * tileImage of a column of the band's pixels in `input` (all of it, or the `crop` of it); the owned
 * levels' rows to the column's sink; their tiles and bytes.
 */
async function cutOwnedLevels(input: string, workDir: string, opts: BandCutOptions, column: BandColumn, crop?: Crop): Promise<{ tiles: number; bytes: number }> {
  const { plan, band, format } = opts;
  const maxBufferedPixels = opts.maxBufferedPixels ?? DEFAULT_MAX_BUFFERED_PIXELS;
  const levels = columnLevels(band, column);
  const owned = opts.sinkFor ? ownedRows(plan, band, column, levels, format, opts.sinkFor(column, levels)) : undefined;
  const outDir = join(workDir, column.width === plan.width ? 'out' : `out-c${column.index}`);
  await tileImage(input, outDir, {
    format,
    quality: opts.quality ?? DEFAULT_QUALITY,
    jpegEncoder: opts.jpegEncoder ?? undefined,
    maxPixels: opts.maxPixels,
    maxBufferedPixels,
    tmpDir: workDir,
    sink: owned,
    ...(crop ? { rows: { top: crop.top, height: crop.height }, columns: { left: crop.left, width: crop.width } } : {}),
  });
  let tiles = 0;
  let bytes = 0;
  for (const level of levels) {
    if (!bandLevelInImage(plan, band, level.level, column)) continue;
    tiles += level.cols * level.rows;
    for (let row = 0; row < level.rows; row++) {
      for (let col = 0; col < level.cols; col++) bytes += (await stat(join(outDir, TILES_DIR, String(level.level), `${col}_${row}.${format}`))).size;
    }
  }
  return { tiles, bytes };
}

interface SharpInternals { options?: { withMetadataOrientation?: number } }

/**
 * The band's pixels are already oriented, but an input rotated through the intermediate keeps its
 * orientation tag (sharp only drops it when it orients the input itself), and the band's cut would
 * rotate it again. sharp's public withMetadata() would set it only with a colour profile attached,
 * so set the one field it sets (checked after writing: a sharp upgrade that moved it fails loudly).
 */
function withoutOrientationTag(image: Sharp): Sharp {
  const options = (image as unknown as SharpInternals).options;
  if (options && 'withMetadataOrientation' in options) options.withMetadataOrientation = 1;
  return image;
}

/** A sink that passes on the owned levels' rows of a column with the image's tile names, and drops the rest. */
function ownedRows(plan: BandPlan, band: Band, column: BandColumn, levels: PyramidLevel[], ext: string, sink: TileSink): TileSink {
  return {
    row(row: TileRow) {
      const at = bandLevelInImage(plan, band, row.level, column);
      if (!at || !levels[row.level]) return;
      sink.row({
        ...row,
        files: row.files.map((f, col) => ({ ...f, rel: posix.join(TILES_DIR, String(at.level), `${col + at.colOffset}_${row.row + at.rowOffset}.${ext}`) })),
      });
    },
    drain: () => sink.drain(),
  };
}
