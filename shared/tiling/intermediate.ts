/**
 * Disk-backed intermediate for inputs libvips cannot stream top to bottom.
 *
 * The source is decoded once, sequentially, into a tiled uncompressed BigTIFF
 * in sRGB 8-bit (colour resolved here, so later passes are cheap and exact),
 * orientation NOT applied. The tiler then reads that TIFF and applies the
 * orientation itself; for a rotate or vertical flip it opens the TIFF for
 * random access so only the tiles each output strip needs are read
 * (orientation.ts).
 *
 * An interlaced PNG is first rewritten non-interlaced in the same folder
 * (png-deinterlace.ts: libvips' own decoder would hold every row). Unless it
 * also needs a rotate or vertical flip, the tiler reads that PNG directly: it
 * streams, so the TIFF would only add a pass. (One cut in direct mode needs no
 * file at all: tile-image.ts streams the rewrite into dzsave instead.)
 *
 * A progressive JPEG is likewise rewritten as a baseline one (jpeg-progressive.ts:
 * libvips' decoder would hold every DCT coefficient) and, unless it needs a
 * rotate or vertical flip, tiled directly from that file. Up to
 * `maxBufferedPixels` libvips decodes it whole into the TIFF instead, which is
 * faster (an 11 MP photo: 0.80 s for the whole tile against 1.20 s); so are
 * the few kinds the rewrite refuses (12-bit, arithmetic coding...), which
 * probe.ts has already refused above that limit.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import sharp, { type Sharp, type SharpOptions } from 'sharp';
import { UntranscodableJpegError } from '../errors.js';
import { colourPipeline, sharpInputOptions, type SourceOptions } from './source.js';
import { applyOrientation, openRandomAccess, orientationNeedsRandomAccess } from './orientation.js';
import { deinterlacePng, readPngHeader } from './png-deinterlace.js';
import { isProgressiveSof, progressiveToBaseline, readJpegFrame } from './jpeg-progressive.js';

export interface Intermediate {
  /** Opens the prepared image, oriented, ready for the tiler. */
  open(options: SharpOptions): Sharp;
  /**
   * Set where the prepared image is the baseline rewrite of a progressive JPEG, read as it is (no
   * reorientation): a file any JPEG reader can stream, so dzsave's direct mode can take it too.
   */
  baselineJpeg?: string;
  remove(): Promise<void>;
}

export interface IntermediateOptions {
  /**
   * Progressive JPEGs of at most this many pixels are decoded whole by libvips
   * (faster, about 3.7 bytes a pixel of memory); larger ones are rewritten as
   * baseline first. A caller that accepts that much memory for such files
   * (MAX_BUFFERED_PIXELS) passes its limit here.
   * @defaultValue 0: every progressive JPEG is rewritten, memory stays bounded at any size
   */
  maxBufferedPixels?: number;
}

export async function writeIntermediate(
  inputPath: string,
  source: SourceOptions,
  tmpDir = tmpdir(),
  opts: IntermediateOptions = {},
): Promise<Intermediate> {
  const dir = await mkdtemp(join(tmpDir, 'hugemap-intermediate-'));
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    let decodeFrom = inputPath;
    if ((await readPngHeader(inputPath))?.interlace === 1) {
      decodeFrom = join(dir, 'deinterlaced.png');
      await deinterlacePng(inputPath, decodeFrom);
      if (!orientationNeedsRandomAccess(source.orientation)) {
        // The rewritten PNG keeps the original's chunks (EXIF included): sharp orients it as it would the original.
        const png = decodeFrom;
        return { open: (o) => sharp(png, o), remove };
      }
    }
    const frame = await readJpegFrame(inputPath);
    if (frame !== null && isProgressiveSof(frame.marker) && frame.width * frame.height > (opts.maxBufferedPixels ?? 0)) {
      const baseline = join(dir, 'baseline.jpg');
      try {
        await progressiveToBaseline(inputPath, baseline);
        decodeFrom = baseline;
        // The baseline file keeps every APPn segment (EXIF included): sharp orients it as it would the original.
        if (!orientationNeedsRandomAccess(source.orientation)) return { open: (o) => sharp(baseline, o), baselineJpeg: baseline, remove };
      } catch (err) {
        if (!(err instanceof UntranscodableJpegError)) throw err;
      }
    }
    const tiff = join(dir, 'decoded.tif');
    await colourPipeline(sharp(decodeFrom, sharpInputOptions(source, { autoOrient: false })), source)
      .tiff({ tile: true, tileWidth: 256, tileHeight: 256, compression: 'none', predictor: 'none', bigtiff: true })
      .toFile(tiff);
    const open = orientationNeedsRandomAccess(source.orientation)
      ? (o: SharpOptions) => applyOrientation(openRandomAccess(tiff, o), source.orientation)
      : (o: SharpOptions) => applyOrientation(sharp(tiff, { ...o, autoOrient: false }), source.orientation);
    return { open, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}
