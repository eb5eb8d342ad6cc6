/**
 * JPEG tiles through dzsave's "direct" mode, in the libvips that sharp bundles.
 *
 * libvips >= 8.15 compresses each tile straight from the strip in memory when
 * dzsave is given no `suffix`; with a suffix it builds a small pipeline per
 * tile. sharp's .tile() always passes a suffix, so it never gets direct mode.
 * On the 236 MP corpus photo (bench/dzsave-modes.py, bench/results/dzsave-modes.md)
 * direct mode takes 4.4 CPU-seconds where the suffix takes 9.4, or 12.1 with
 * optimize_coding. Direct mode cannot optimise Huffman tables, so tileImage
 * re-codes each tile losslessly afterwards (huffman-pass.ts): 15% fewer bytes
 * for 1.9 CPU-seconds more on that photo (bench/huffman-pass.ts, on the slower host of
 * 2026-12-03, where the old re-coder took 2.2-2.5), the same
 * decoded pixels.
 *
 * A JPEG reaches libvips through a pipe, not by its file name: given a file,
 * sharp's libvips 8.18 memory-maps the whole JPEG, and every page the decoder
 * has read stays in the process's resident set until the cut ends (82 MB of
 * the 944 MP photo). A pipe is not mappable, so libvips reads it through a
 * small buffer instead: dzsave alone on that photo peaks at 273 MiB RSS against
 * 345 MiB (docs/memory.md). Other formats are not mapped and are named as before.
 *
 * Two inputs that sharp's path would convert still go direct: a CMYK JPEG is
 * converted to sRGB inside this pipeline with the operation sharp uses
 * (DirectInput.toSrgb), and an Adam7 PNG comes rewritten non-interlaced
 * through the pipe as it is decoded (DirectInput.feed), so the cut starts on
 * the first rows instead of after a rewritten file.
 *
 * sharp exposes no way to do any of this; vips-ffi.ts calls its libvips directly.
 */
import { vipsFfi, type Pointer, type VipsFfi } from './vips-ffi.js';
import { buildOperation, outputOf, releaseOperation, type AttachInput } from './vips-operation.js';
import { canCrop, LOAD_OPTIONS, openFile, openPiped, type Feed, type Crop } from './vips-input.js';

/** What dzsaveDirect reads: a file, and its format as probed (decides how libvips gets it). */
export interface DirectInput {
  path: string;
  format: string;
  /**
   * Only these rows: a band of the image, or of a JPEG slice (jpeg-slice.ts: its margin rows left
   * out). A JPEG, or a TIFF (loaded by name, which reads only the tiles or strips it needs).
   */
  crop?: Crop;
  /**
   * Writes the bytes libvips reads, in a format it loads from a pipe (PIPED_LOADERS), and ends
   * `out`: a stream made while the cut runs (an Adam7 PNG rewritten non-interlaced, png-deinterlace.ts).
   * Without it, a JPEG's own file is fed and other formats are named.
   */
  feed?: Feed;
  /**
   * Convert to sRGB before the cut, as sharp's pipeline does for a CMYK input (colourPipeline):
   * libvips' icc_transform through the embedded profile, or its own CMYK profile where there is
   * none, perceptual intent, 8 bits. The same operation in the same libvips: the same pixels.
   */
  toSrgb?: boolean;
}

/** Whether direct mode can be used here (sharp's libvips and koffi both load). */
export function directDzsaveAvailable(): boolean {
  return vipsFfi() !== null;
}

/**
 * Paths that libvips would misread when given as a string: it treats a
 * trailing `[...]` as load options. Such inputs take the sharp path.
 */
export function directSafePath(path: string): boolean {
  return !/[[\]]/.test(path);
}

/**
 * The built icc_transform of `input` to sRGB (see DirectInput.toSrgb); the caller releases it
 * (releaseOperation). Also the preview's conversion (preview.ts).
 */
export function toSrgb(vips: VipsFfi, input: AttachInput): Promise<Pointer> {
  // sharp: icc_transform(srgb, embedded, depth 8, perceptual) for a tagged input, (srgb, input_profile cmyk, perceptual) for an untagged CMYK one.
  return buildOperation(vips, 'icc_transform', input, { args: { output_profile: 'srgb' }, options: 'embedded=true,input_profile=cmyk,depth=8,intent=perceptual' }, 'icc_transform to sRGB failed');
}

/**
 * dzsave of `input` (read sequentially) to `<outBase>.dzi` and
 * `<outBase>_files/`, 256 px tiles, no overlap, down to 1x1, JPEG at `quality`,
 * no metadata in the tiles. The input must need no colour conversion.
 */
export async function dzsaveDirect(input: DirectInput, outBase: string, quality: number, signal?: AbortSignal): Promise<void> {
  const vips = vipsFfi();
  if (!vips) throw new Error('dzsave direct mode is not available (sharp\'s libvips or koffi did not load)');
  if (!directSafePath(input.path) || !directSafePath(outBase)) throw new Error(`dzsave direct mode cannot take a path with [ or ]: ${input.path}`);
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) throw new Error(`quality must be 1..100, got ${quality}`);
  if (input.crop && !canCrop(input.format)) throw new Error(`dzsave direct mode does not crop ${input.format} inputs`);
  // A fed input always comes through the pipe; of the files, only a JPEG (which libvips would map);
  // a TIFF cropped to a band is opened by name here, another file is named to dzsave.
  const opened = input.feed
    ? await openPiped(vips, input.format, input.feed, input.crop)
    : input.format === 'jpeg' || input.crop ? await openFile(vips, input.path, input.format, input.crop) : undefined;
  // Given up: a piped input ends at once, so libvips' threads stop instead of waiting on the pipe.
  const abandon = () => opened?.abandon();
  signal?.addEventListener('abort', abandon, { once: true });
  if (signal?.aborted) abandon();
  let converted: Pointer = null;
  let built: Pointer = null;
  let failure: Error | undefined;
  try {
    if (input.toSrgb) {
      if (!opened) throw new Error(`dzsave direct mode converts only an opened input to sRGB, not ${input.format}`);
      converted = await toSrgb(vips, opened.attach);
    }
    const attach = converted ? outputOf(vips, converted) : opened?.attach;
    built = await buildOperation(vips, 'dzsave', attach, {
      // Another file is named to dzsave, with the load options that keep it sequential and strict.
      args: { ...(opened ? {} : { in: `${input.path}[${LOAD_OPTIONS}]` }), filename: outBase },
      options: `tile_size=256,overlap=0,depth=onepixel,Q=${quality},keep=none`,
    }, 'dzsave failed');
  } catch (err) {
    failure = err as Error;
  } finally {
    releaseOperation(vips, built);
    releaseOperation(vips, converted);
  }
  signal?.removeEventListener('abort', abandon);
  const feedError = await opened?.close();
  // A file that could not be read shows in libvips only as a short input: its own error says more.
  // A feed that failed after libvips had every pixel (a damaged PNG's end) fails the cut all the same.
  if (failure || feedError) throw feedError ?? failure;
}
