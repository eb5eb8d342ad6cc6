/**
 * The preview: the whole image as one JPEG the size of the first-view level
 * (pyramid.ts firstViewLevels: the first level at least 1024 px on its longer
 * side), written before the tiles are cut so that a viewer can show the whole
 * image, sharp in a 1024 px window, a few seconds after the job starts
 * instead of when the cut ends (dzsave finishes the small levels last).
 *
 * Made only where it is cheap: a JPEG that libvips can stream, which it
 * decodes at 1/2, 1/4 or 1/8 scale straight from the DCT (shrink-on-load), so
 * the preview costs a fraction of the full decode the cut does anyway
 * (measured in bench/preview-cost.ts). Other inputs (PNG, TIFF, inputs that
 * need an intermediate) would need a second full decode; they get none and a
 * viewer waits for the first-view tiles instead.
 */
import sharp from 'sharp';
import type { ImageProbe } from './probe.js';
import { firstViewLevel, type PyramidLevel } from './pyramid.js';
import { colourPipeline, sharpInputOptions } from './source.js';
import { vipsFfi } from './vips-ffi.js';

export const PREVIEW_QUALITY = 80;

/** The level whose size the preview has, or null when this input gets no preview. */
export function previewLevel(probe: ImageProbe): PyramidLevel | null {
  if (probe.format !== 'jpeg' || probe.needsIntermediate) return null;
  return firstViewLevel(probe.width, probe.height);
}

/** Writes the preview of `inputPath` to `outPath`; null (nothing written) when the input gets none. */
export async function writePreview(inputPath: string, probe: ImageProbe, outPath: string, opts: { maxPixels: number }): Promise<{ width: number; height: number; bytes: number } | null> {
  const level = previewLevel(probe);
  if (!level) return null;
  const input = sharp(inputPath, sharpInputOptions({ limitInputPixels: opts.maxPixels, orientation: probe.orientation, flatten: false, ignoreIcc: probe.srgbProfile }));
  // fit 'fill' to the level's exact size: the preview lies exactly under that level's tiles.
  const info = await colourPipeline(input, { flatten: false })
    .resize(level.width, level.height, { fit: 'fill' })
    .jpeg({ quality: PREVIEW_QUALITY, optimiseCoding: true })
    .toFile(outPath);
  // libvips memory-maps the JPEG it decodes, and its operation cache keeps the mapping after the
  // preview: 84 MB of the 944 MP photo that would still be resident while the cut starts.
  vipsFfi()?.emptyOperationCache();
  return { width: info.width, height: info.height, bytes: info.size };
}
