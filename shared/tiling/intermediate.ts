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
 * streams, so the TIFF would only add a pass.
 *
 * A progressive JPEG also comes through here, but its DECODER holds every DCT
 * coefficient during the first pass: that peak cannot be bounded in this
 * process (docs/memory.md), so probe.ts refuses large ones.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import sharp, { type Sharp, type SharpOptions } from 'sharp';
import { colourPipeline, sharpInputOptions, type SourceOptions } from './source.js';
import { applyOrientation, openRandomAccess, orientationNeedsRandomAccess } from './orientation.js';
import { deinterlacePng, readPngHeader } from './png-deinterlace.js';

export interface Intermediate {
  /** Opens the prepared image, oriented, ready for the tiler. */
  open(options: SharpOptions): Sharp;
  remove(): Promise<void>;
}

export async function writeIntermediate(
  inputPath: string,
  source: SourceOptions,
  tmpDir = tmpdir(),
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
