/**
 * Disk-backed intermediate for inputs libvips cannot stream top to bottom.
 *
 * A 90/270 degree EXIF rotation needs random access to the whole image; done
 * straight from a JPEG, libvips decodes it all into memory. We first decode the
 * source in one sequential pass into a tiled, uncompressed BigTIFF (random
 * access by 256x256 tile, so the rotate reads tiles, not the whole image), and
 * tile from that. The EXIF orientation travels in the TIFF's own tag.
 *
 * Progressive JPEG and interlaced PNG go through the same path, but their
 * DECODERS hold the whole image (all DCT coefficients / all rows) during the
 * first pass: that peak cannot be bounded here; numbers in docs/memory.md.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import sharp from 'sharp';
import { colourPipeline, sharpInputOptions, type SourceOptions } from './source.js';

export interface Intermediate {
  path: string;
  remove(): Promise<void>;
}

export async function writeIntermediate(inputPath: string, source: SourceOptions, tmpDir = tmpdir()): Promise<Intermediate> {
  const dir = await mkdtemp(join(tmpDir, 'hugemap-intermediate-'));
  const path = join(dir, 'intermediate.tif');
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    // Colour is resolved here (sRGB 8-bit, ICC applied) so the intermediate is small and final;
    // orientation is NOT applied (that is the random-access step) but kept in the TIFF tag.
    await colourPipeline(sharp(inputPath, sharpInputOptions(source, { autoOrient: false })), source)
      .withMetadata({ orientation: source.orientation })
      .tiff({ tile: true, tileWidth: 256, tileHeight: 256, compression: 'none', predictor: 'none', bigtiff: true })
      .toFile(path);
    return { path, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}
