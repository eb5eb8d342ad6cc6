/**
 * tileImage: one image file in, a complete Deep Zoom folder out. Used by the
 * CLI and the worker alike. Stages: probe (header only) -> prepare (only for
 * inputs that cannot stream) -> tile (libvips dzsave, sequential read) ->
 * thumbnail (from the pyramid) -> finish (manifest, descriptor last).
 * With a `sink`, finished rows of tiles are handed over while dzsave still
 * cuts (the worker uploads them), and the result is published only once the
 * sink has drained.
 */
import { readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { BadRequestError, HugemapError } from '../errors.js';
import { DEFAULT_JPEG_ENCODER, DEFAULT_QUALITY, defaultFormat, JPEG_ENCODERS, withTileEncoder, type JpegEncoder, type TileFormat } from './encoders.js';
import { directDzsaveAvailable, directSafePath, dzsaveDirect, type DirectInput } from './dzsave-direct.js';
import { deinterlaceToStream } from './png-deinterlace.js';
import { progressiveToBaselineStream } from './jpeg-progressive.js';
import { openStaging, DESCRIPTOR, MANIFEST, THUMBNAIL, TILES_DIR } from './output-dir.js';
import { DEFAULT_MAX_BUFFERED_PIXELS, intermediateReason, probeImage, srgbAsDecoded, uprightOpaque8Bit, type ImageProbe } from './probe.js';
import { watchTiles, type TileProgress } from './progress.js';
import { deepZoomLevels, dziXml, tileCount, tileExtension, DEFAULT_TILE_SIZE, type PyramidLevel } from './pyramid.js';
import { colourPipeline, sharpInputOptions, type SourceOptions } from './source.js';
import { writeIntermediate, type Intermediate } from './intermediate.js';
import { writeThumbnail } from './thumbnail.js';
import { classifyVipsError } from './vips-errors.js';
import { canCrop } from './vips-input.js';
import { watchTileRows, type TileSink } from './tile-rows.js';
import { HuffmanPass } from './huffman-pass.js';
import { boundLineBuffers } from './line-buffers.js';

export type { JpegEncoder, TileFormat } from './encoders.js';
export type { TileProgress } from './progress.js';

/**
 * 10 gigapixels: the tiler's memory does not grow with the image (README, Memory), so the limit is
 * about time and disk, not RAM. JPEG itself stops at 65535 x 65535 (4.29 GP); larger inputs are PNG or TIFF.
 */
export const DEFAULT_MAX_PIXELS = 10_000_000_000;
export const TILE_FORMATS: readonly TileFormat[] = ['jpeg', 'png', 'webp'];

export interface TileOptions {
  /** @defaultValue 'jpeg' for opaque images, 'png' when the image has alpha */
  format?: TileFormat;
  /** 1..100, used by jpeg and webp. @defaultValue 85 */
  quality?: number;
  /** Refuse images with more pixels than this, from the header alone. @defaultValue 1e10 */
  maxPixels?: number;
  /**
   * Progressive JPEGs up to this many pixels are decoded whole by libvips (faster, ~3.7 bytes a
   * pixel); larger ones are rewritten as baseline on disk first, and the few kinds that cannot be
   * (12-bit, arithmetic coding) are refused. @defaultValue 50e6
   */
  maxBufferedPixels?: number;
  /**
   * How JPEG tiles are written; both give baseline JPEGs with optimised Huffman tables and the same
   * decoded pixels. 'direct': dzsave's direct mode (dzsave-direct.ts), then each tile's Huffman tables
   * optimised losslessly in JS (huffman-pass.ts); 1.7-1.8x faster than 'sharp', which goes through
   * sharp's tile() with libjpeg's optimize_coding (5.35 vs 9.06 s at 236 MP, 18.2 vs 33.4 s at 944 MP,
   * bench/results/full-giga.md). Direct mode is used where no conversion is needed (8-bit sRGB, no
   * alpha, no rotation, no intermediate other than a progressive JPEG's baseline rewrite or an Adam7
   * PNG's streamed one) and for CMYK JPEGs (converted in libvips as sharp does); other inputs take
   * the sharp path (jpegEncoderFor). @defaultValue 'direct'
   */
  jpegEncoder?: JpegEncoder;
  /** libvips worker threads (process-wide: sharp.concurrency). @defaultValue sharp's own default */
  concurrency?: number;
  /** Where the intermediate for non-streamable inputs goes. @defaultValue os.tmpdir() */
  tmpDir?: string;
  onProgress?: (p: TileProgress) => void;
  /**
   * How often onProgress gets a count of the tiles written while the cut runs; 0: no counting,
   * only the reports at each stage's start. @defaultValue 250
   */
  progressIntervalMs?: number;
  /** Gets each finished row of tiles while dzsave runs; tileImage returns only after it has drained. */
  sink?: TileSink;
  /**
   * Cut only these rows of the input: a band's JPEG slice (jpeg-slice.ts), whose margin rows are not
   * the band's, or a band of a TIFF. Only for a JPEG or TIFF that the direct encoder cuts as it is.
   */
  rows?: { top: number; height: number };
  /**
   * And only these columns of them: a column of a wide band (band-plan.ts, bandColumns), which a
   * TIFF's loader reads without the tiles beside it. @defaultValue all of them
   */
  columns?: { left: number; width: number };
  signal?: AbortSignal;
}

export interface TileManifest {
  width: number;
  height: number;
  tileSize: 256;
  overlap: 0;
  format: TileFormat;
  quality: number;
  /** How the tiles were written (see TileOptions.jpegEncoder); null for PNG and WebP. */
  jpegEncoder: JpegEncoder | null;
  levels: number;
  tiles: number;
  /** Total bytes of all tile files. */
  bytes: number;
  thumbnail: { width: number; height: number };
  source: { format: string; bytes: number; orientation: number; intermediate: string | null };
}

export async function tileImage(inputPath: string, outDir: string, opts: TileOptions = {}): Promise<TileManifest> {
  const { format: requestedFormat, quality = DEFAULT_QUALITY, maxPixels = DEFAULT_MAX_PIXELS, maxBufferedPixels = DEFAULT_MAX_BUFFERED_PIXELS, signal } = opts;
  validateOptions(opts, quality, maxPixels);
  if (opts.concurrency !== undefined) sharp.concurrency(opts.concurrency);
  signal?.throwIfAborted();

  // Opened first: from here on outDir holds no descriptor until this run succeeds.
  const staging = await openStaging(outDir);
  const tilesDir = join(staging.path, TILES_DIR);
  let intermediate: Intermediate | undefined;
  try {
    const probed = await probeImage(inputPath, { maxPixels, maxBufferedPixels });
    const probe = { ...probed, ...(opts.rows ? { height: opts.rows.height } : {}), ...(opts.columns ? { width: opts.columns.width } : {}) };
    const format = requestedFormat ?? defaultFormat(probe.hasAlpha);
    const levels = deepZoomLevels(probe.width, probe.height);
    const tilesTotal = tileCount(levels);
    boundLineBuffers(probe);
    const report = (stage: TileProgress['stage'], tilesDone: number, levelsDone: number) =>
      opts.onProgress?.({ stage, tilesDone, tilesTotal, levelsDone, levels: levels.length, pixels: probe.width * probe.height });
    report('probe', 0, 0);

    const source: SourceOptions = {
      limitInputPixels: maxPixels,
      orientation: probe.orientation,
      flatten: probe.hasAlpha && format === 'jpeg',
      ignoreIcc: probe.srgbProfile,
    };
    // jpegEncoderFor has checked that direct mode reads this input as it is, or its streamed rewrite.
    const encoder = jpegEncoderFor(opts.jpegEncoder ?? DEFAULT_JPEG_ENCODER, inputPath, probe, format);
    // An interlaced PNG or a progressive JPEG cut direct needs no rewritten file: the rewrite is
    // streamed into dzsave's input pipe as it is made (what a rewritten file would decode to: the same pixels).
    const streamedIntoCut = encoder === 'direct' ? streamedRewrite(inputPath, probe, opts.tmpDir) : undefined;
    if (probe.needsIntermediate && !streamedIntoCut) {
      report('prepare', 0, 0);
      intermediate = await abortable(writeIntermediate(inputPath, source, opts.tmpDir, { maxBufferedPixels }), signal, (i) => i?.remove() ?? Promise.resolve());
    }

    if ((opts.rows || opts.columns) && (encoder !== 'direct' || intermediate || !canCrop(probe.format))) throw new Error('rows, columns: only a JPEG or TIFF cut as it is by the direct encoder');
    const crop = opts.rows || opts.columns
      ? { top: opts.rows?.top ?? 0, height: probe.height, left: opts.columns?.left ?? 0, width: probe.width }
      : undefined;
    report('tile', 0, 0);
    const stopWatching = opts.onProgress && opts.progressIntervalMs !== 0
      ? watchTiles(tilesDir, levels, tileExtension(format), tilesTotal, (p) => opts.onProgress?.(p), opts.progressIntervalMs)
      : () => undefined;
    const sink = opts.sink;
    // Direct-mode tiles get their Huffman tables optimised row by row while dzsave goes on, before the sink sees them.
    const huffman = encoder === 'direct' ? new HuffmanPass(sink) : undefined;
    const rowSink = huffman ?? sink;
    const rows = rowSink ? watchTileRows(tilesDir, TILES_DIR, levels, tileExtension(format), (row) => rowSink.row(row)) : undefined;
    try {
      // The intermediate opens already oriented (orientation.ts); a sharp input is oriented by sharp. A direct
      // input needs no orientation: it is the original or its baseline rewrite (same coefficients, same pixels).
      // dzsave names its outputs <base>.dzi and <base>_files.
      const base = join(staging.path, 'image');
      if (encoder === 'direct') {
        const direct: DirectInput = streamedIntoCut
          ? { path: inputPath, ...streamedIntoCut, ...(crop ? { crop } : {}) }
          : { path: inputPath, format: probe.format, toSrgb: convertsToSrgbDirect(probe), ...(crop ? { crop } : {}) };
        await abortable(dzsaveDirect(direct, base, quality, signal), signal, () => staging.discard());
      } else {
        const input = intermediate === undefined ? sharp(inputPath, sharpInputOptions(source)) : intermediate.open(sharpInputOptions(source));
        const pipeline = withTileEncoder(colourPipeline(input, source), format, quality).tile({
          size: DEFAULT_TILE_SIZE,
          overlap: 0,
          layout: 'dz',
          depth: 'onepixel',
        });
        await abortable(pipeline.toFile(base), signal, () => staging.discard());
      }
      await rows?.flush();
      await huffman?.optimised();
    } finally {
      rows?.stop();
      stopWatching();
      await huffman?.close();
    }
    await rm(join(tilesDir, 'vips-properties.xml'), { force: true });
    await assertPyramid(tilesDir, levels, tilesTotal);
    report('tile', tilesTotal, levels.length);

    report('thumbnail', tilesTotal, levels.length);
    const thumbnail = await writeThumbnail(tilesDir, levels, format, join(staging.path, THUMBNAIL));

    report('finish', tilesTotal, levels.length);
    const manifest: TileManifest = {
      width: probe.width,
      height: probe.height,
      tileSize: DEFAULT_TILE_SIZE,
      overlap: 0,
      format,
      quality,
      jpegEncoder: encoder,
      levels: levels.length,
      tiles: tilesTotal,
      bytes: await tileBytes(tilesDir, levels),
      thumbnail,
      source: { format: probe.format, bytes: probe.bytes, orientation: probe.orientation, intermediate: intermediateReason(probe) },
    };
    await writeFile(join(staging.path, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    // The sink was given paths inside the staging folder: they must stay there until it is done.
    await sink?.drain();
    // Our own descriptor replaces dzsave's so its bytes are fixed by this code, not the libvips version.
    await writeFile(join(staging.path, DESCRIPTOR), dziXml(probe.width, probe.height, DEFAULT_TILE_SIZE, 0, format));
    signal?.throwIfAborted();
    await staging.publish();
    return manifest;
  } catch (err) {
    // Best effort: after an abort, libvips may still be writing; the abandoned call discards again when it settles.
    await staging.discard().catch(() => undefined);
    throw classifyVipsError(inputPath, err);
  } finally {
    await intermediate?.remove();
  }
}

/**
 * The JPEG encoder a tiling of this input will actually use (null for PNG and
 * WebP tiles): direct mode only where dzsave on the file itself gives what the
 * sharp pipeline would (8-bit sRGB, no alpha to flatten, no rotation, no
 * profile other than sRGB), and only where it loads; a CMYK JPEG too, converted
 * inside dzsave's pipeline by the operation sharp uses. Of the inputs that need
 * an intermediate, a progressive JPEG rewritten as baseline qualifies (the
 * rewrite holds the original's coefficients, so dzsave decodes the same pixels
 * from it as sharp does; it reaches dzsave through a pipe as it is encoded),
 * and so does an Adam7 PNG, whose rows reach dzsave rewritten non-interlaced as
 * they are decoded (the same pixels). The worker names the encoder in its checkpoint: the two encoders
 * write different bytes.
 */
export function jpegEncoderFor(requested: JpegEncoder, inputPath: string, probe: ImageProbe, format: TileFormat): JpegEncoder | null {
  if (format !== 'jpeg') return null;
  if (requested !== 'direct') return 'sharp';
  const streams = !probe.needsIntermediate || probe.baselineRewrite || interlacedPng(probe);
  const plain = streams && uprightOpaque8Bit(probe) && (srgbAsDecoded(probe) || convertsToSrgbDirect(probe));
  return plain && directSafePath(inputPath) && directDzsaveAvailable() ? 'direct' : 'sharp';
}

/**
 * What dzsave reads instead of the original, made while it reads: an Adam7 PNG rewritten
 * non-interlaced, a progressive JPEG rewritten baseline (both lossless rewrites).
 */
function streamedRewrite(inputPath: string, probe: ImageProbe, tmpDir: string | undefined): Pick<DirectInput, 'format' | 'feed'> | undefined {
  if (interlacedPng(probe)) return { format: 'png', feed: (out) => deinterlaceToStream(inputPath, out, { tmpDir }) };
  if (probe.baselineRewrite) return { format: 'jpeg', feed: (out) => progressiveToBaselineStream(inputPath, out) };
  return undefined;
}

/** An Adam7 PNG: direct mode reads its rows as deinterlaceToStream rewrites them (the rewrite keeps the pixels). */
function interlacedPng(probe: ImageProbe): boolean {
  return probe.format === 'png' && probe.progressive;
}

/**
 * A CMYK JPEG read as it is (no rewrite): direct mode converts it to sRGB inside libvips with
 * the operation sharp's pipeline uses (DirectInput.toSrgb), so the tiles hold the same pixels.
 */
function convertsToSrgbDirect(probe: ImageProbe): boolean {
  return probe.space === 'cmyk' && probe.format === 'jpeg' && !probe.needsIntermediate;
}

function validateOptions(opts: TileOptions, quality: number, maxPixels: number): void {
  if (opts.format !== undefined && !TILE_FORMATS.includes(opts.format)) {
    throw new BadRequestError(`format must be one of ${TILE_FORMATS.join(', ')}, got ${String(opts.format)}`);
  }
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new BadRequestError(`quality must be an integer from 1 to 100, got ${quality}`);
  }
  if (!Number.isSafeInteger(maxPixels) || maxPixels < 1) {
    throw new BadRequestError(`maxPixels must be a positive integer, got ${maxPixels}`);
  }
  if (opts.jpegEncoder !== undefined && !JPEG_ENCODERS.includes(opts.jpegEncoder)) {
    throw new BadRequestError(`jpegEncoder must be one of ${JPEG_ENCODERS.join(', ')}, got ${String(opts.jpegEncoder)}`);
  }
  if (opts.concurrency !== undefined && (!Number.isInteger(opts.concurrency) || opts.concurrency < 1 || opts.concurrency > 64)) {
    throw new BadRequestError(`concurrency must be an integer from 1 to 64, got ${opts.concurrency}`);
  }
}

/** Clean-ups of abandoned libvips calls (see abortable) not finished yet. */
const abandoned = new Set<Promise<unknown>>();

/**
 * Resolves once every libvips call abandoned by an abort so far has settled and what it wrote
 * late has been removed: an aborted tileImage rejects before that. For tests, and for a process
 * that wants its output folders final before it exits.
 */
export async function abandonedWorkSettled(): Promise<void> {
  while (abandoned.size > 0) await Promise.all([...abandoned]);
}

/**
 * libvips cannot be interrupted, so an abort rejects at once; `abandon` runs
 * again once the abandoned libvips call settles, to remove what it wrote late.
 */
async function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined, abandon: (result: T | undefined) => Promise<unknown>): Promise<T> {
  if (!signal) return work;
  const abandonWork = (): void => {
    const cleanup = work.then(abandon, () => abandon(undefined)).catch(() => undefined);
    abandoned.add(cleanup);
    void cleanup.finally(() => abandoned.delete(cleanup));
  };
  if (signal.aborted) {
    abandonWork();
    throw signal.reason;
  }
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      abandonWork();
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** A cheap guard that libvips wrote exactly the pyramid we promised: nothing missing, nothing extra. */
async function assertPyramid(tilesDir: string, levels: PyramidLevel[], tilesTotal: number): Promise<void> {
  const folders = await readdir(tilesDir);
  let files = 0;
  let levelsAsPromised = 0;
  for (const f of folders) {
    const n = (await readdir(join(tilesDir, f))).length;
    files += n;
    const level = levels[Number(f)];
    if (level && String(level.level) === f && n === level.cols * level.rows) levelsAsPromised++;
  }
  if (folders.length !== levels.length || levelsAsPromised !== levels.length || files !== tilesTotal) {
    throw new HugemapError(
      'HUGEMAP_ERR_INTERNAL',
      `tiler wrote ${folders.length} levels / ${files} tiles, expected ${levels.length} / ${tilesTotal}`,
    );
  }
}

async function tileBytes(tilesDir: string, levels: PyramidLevel[]): Promise<number> {
  let bytes = 0;
  for (const level of levels) {
    const dir = join(tilesDir, String(level.level));
    for (const name of await readdir(dir)) bytes += (await stat(join(dir, name))).size;
  }
  return bytes;
}
