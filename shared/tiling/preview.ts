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
import { toSrgb } from './dzsave-direct.js';
import { srgbAsDecoded, type ImageProbe } from './probe.js';
import { fileFeed, openPiped } from './vips-input.js';
import { firstViewLevel, type PyramidLevel } from './pyramid.js';
import { colourPipeline, sharpInputOptions } from './source.js';
import { vipsFfi, type Pointer, type VipsFfi } from './vips-ffi.js';
import { buildOperation, outputOf, releaseOperation, type AttachInput } from './vips-operation.js';

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
  const steps = pipedSteps(probe);
  if (vips && steps) {
    await writePipedPreview(vips, inputPath, probe, level, steps, outPath);
    return { width: level.width, height: level.height, bytes: (await stat(outPath)).size };
  }
  // Without sharp's libvips through the FFI, or an input none of pipedSteps' conversions fits.
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
 * What the piped preview does besides resizing, as sharp's path would (colourPipeline,
 * sharpInputOptions): `toSrgb` an ICC transform to sRGB before the resize (a CMYK JPEG, tagged or
 * not, or an RGB one with another profile: the operation the cut uses, dzsave-direct.ts toSrgb),
 * `grey` an untagged greyscale image made 3-band sRGB. EXIF orientation 2 (mirrored; 3-8 get no
 * preview) needs no step: thumbnail_image turns an image upright by its orientation tag itself.
 * null: an input for sharp's path (8-bit RGB, CMYK and grey JPEGs are all there is in practice).
 */
export function pipedSteps(probe: ImageProbe): { toSrgb: boolean; grey: boolean } | null {
  if (probe.hasAlpha || probe.depth !== 'uchar' || probe.orientation > 2) return null;
  if (srgbAsDecoded(probe)) return { toSrgb: false, grey: false };
  if (probe.space === 'cmyk' || (probe.space === 'srgb' && probe.iccProfile)) return { toSrgb: true, grey: false };
  if (probe.space === 'b-w' && !probe.iccProfile) return { toSrgb: false, grey: true };
  return null;
}

/**
 * The preview decoded from a pipe: libvips maps a JPEG it is given by name, and every page it has
 * read stays resident while it decodes (jpeg2vips.c maps a mappable source): 169 MB of a 1.9 GP
 * JPEG, which took its tile job to 333 MB (docs/split-jobs.md). Through a pipe it reads a buffer at
 * a time, as the cut does (dzsave-direct.ts). Decoded at 1/2, 1/4 or 1/8 scale from the DCT, then
 * resized to the level's exact size; the colour steps on the smallest image they can take.
 */
async function writePipedPreview(vips: VipsFfi, inputPath: string, probe: ImageProbe, level: PyramidLevel, steps: NonNullable<ReturnType<typeof pipedSteps>>, outPath: string): Promise<void> {
  const shrink = [8, 4, 2].find((s) => Math.floor(probe.width / s) >= level.width && Math.floor(probe.height / s) >= level.height) ?? 1;
  const opened = await openPiped(vips, 'jpeg', fileFeed(inputPath), undefined, `shrink=${shrink}`);
  const built: Pointer[] = [];
  // Each step reads the one before it; every built step is released at the end, last first.
  const last = (): AttachInput => (built.length > 0 ? outputOf(vips, built[built.length - 1]!) : opened.attach);
  let failure: Error | undefined;
  try {
    // Before the resize, as sharp converts a CMYK or tagged input before it resizes.
    if (steps.toSrgb) built.push(await toSrgb(vips, last()));
    built.push(await buildOperation(vips, 'thumbnail_image', last(), { options: `width=${level.width},height=${level.height},size=force` }, 'cannot resize the preview'));
    if (steps.grey) built.push(await buildOperation(vips, 'colourspace', last(), { options: 'space=srgb' }, 'cannot make the preview sRGB'));
    built.push(await buildOperation(vips, 'jpegsave', last(), { args: { filename: outPath }, options: `Q=${PREVIEW_QUALITY},optimize_coding=true,keep=none` }, 'cannot write the preview'));
  } catch (err) {
    failure = err as Error;
  } finally {
    for (const op of built.reverse()) releaseOperation(vips, op);
  }
  const feedError = await opened.close();
  if (failure || feedError) throw feedError ?? failure;
}
