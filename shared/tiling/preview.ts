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
import { stat } from 'node:fs/promises';
import sharp from 'sharp';
import { srgbAsDecoded, uprightOpaque8Bit, type ImageProbe } from './probe.js';
import { fileFeed, openPiped, vipsFailure } from './vips-input.js';
import { firstViewLevel, type PyramidLevel } from './pyramid.js';
import { colourPipeline, sharpInputOptions } from './source.js';
import { vipsFfi, type Pointer, type VipsFfi } from './vips-ffi.js';

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
  const vips = vipsFfi();
  // Pixels that need no conversion, by the tests jpegEncoderFor makes of a plain input.
  if (vips && uprightOpaque8Bit(probe) && srgbAsDecoded(probe)) {
    await writePipedPreview(vips, inputPath, probe, level, outPath);
    return { width: level.width, height: level.height, bytes: (await stat(outPath)).size };
  }
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

/**
 * The preview decoded from a pipe: libvips maps a JPEG it is given by name, and every page it has
 * read stays resident while it decodes (jpeg2vips.c maps a mappable source): 169 MB of a 1.9 GP
 * JPEG, which took its tile job to 333 MB (docs/split-jobs.md). Through a pipe it reads a buffer at
 * a time, as the cut does (dzsave-direct.ts). Decoded at 1/2, 1/4 or 1/8 scale from the DCT, then
 * resized to the level's exact size.
 */
async function writePipedPreview(vips: VipsFfi, inputPath: string, probe: ImageProbe, level: PyramidLevel, outPath: string): Promise<void> {
  const shrink = [8, 4, 2].find((s) => Math.floor(probe.width / s) >= level.width && Math.floor(probe.height / s) >= level.height) ?? 1;
  const opened = await openPiped(vips, 'jpeg', fileFeed(inputPath), undefined, `shrink=${shrink}`);
  const built: Pointer[] = [];
  let failure: Error | undefined;
  try {
    const resize = vips.operationNew('thumbnail_image');
    opened.attach(resize);
    const resized = vips.setFromString(resize, `width=${level.width},height=${level.height},size=force`) === 0 ? await vips.buildCached(resize) : null;
    if (!resized) vips.unrefOutputs(resize);
    vips.unref(resize);
    if (!resized) throw vipsFailure(vips, 'cannot resize the preview');
    built.push(resized);
    const save = vips.operationNew('jpegsave');
    vips.copyImageProperty(resized, 'out', save, 'in');
    const set = vips.setArgument(save, 'filename', outPath) === 0 && vips.setFromString(save, `Q=${PREVIEW_QUALITY},optimize_coding=true,keep=none`) === 0;
    const saved = set ? await vips.buildCached(save) : null;
    if (!saved) vips.unrefOutputs(save);
    vips.unref(save);
    if (!saved) throw vipsFailure(vips, 'cannot write the preview');
    built.push(saved);
  } catch (err) {
    failure = err as Error;
  } finally {
    for (const op of built) {
      vips.unrefOutputs(op);
      vips.unref(op);
    }
  }
  const feedError = await opened.close();
  if (failure || feedError) throw feedError ?? failure;
}
