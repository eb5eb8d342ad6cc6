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
 * sharp exposes no way to do either; vips-ffi.ts calls its libvips directly.
 */
import { vipsFfi, type Pointer } from './vips-ffi.js';
import { LOAD_OPTIONS, openPipedJpeg, vipsFailure, type RowCrop } from './vips-piped-jpeg.js';

/** What dzsaveDirect reads: a file, and its format as probed (decides how libvips gets it). */
export interface DirectInput {
  path: string;
  format: string;
  /** Only these rows of a JPEG (a band's slice, jpeg-slice.ts: its margin rows left out). */
  crop?: RowCrop;
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
 * dzsave of `input` (read sequentially) to `<outBase>.dzi` and
 * `<outBase>_files/`, 256 px tiles, no overlap, down to 1x1, JPEG at `quality`,
 * no metadata in the tiles. The input must need no colour conversion.
 */
export async function dzsaveDirect(input: DirectInput, outBase: string, quality: number): Promise<void> {
  const vips = vipsFfi();
  if (!vips) throw new Error('dzsave direct mode is not available (sharp\'s libvips or koffi did not load)');
  if (!directSafePath(input.path) || !directSafePath(outBase)) throw new Error(`dzsave direct mode cannot take a path with [ or ]: ${input.path}`);
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) throw new Error(`quality must be 1..100, got ${quality}`);
  if (input.crop && input.format !== 'jpeg') throw new Error('dzsave direct mode crops only JPEG inputs');
  const piped = input.format === 'jpeg' ? await openPipedJpeg(vips, input.path, input.crop) : undefined;
  const op = vips.operationNew('dzsave');
  let built: Pointer = null;
  let failure: Error | undefined;
  try {
    if (!op) throw vipsFailure(vips, 'vips_operation_new(dzsave) failed');
    if (piped) piped.attach(op);
    const set =
      (piped !== undefined || vips.setArgument(op, 'in', `${input.path}[${LOAD_OPTIONS}]`) === 0) &&
      vips.setArgument(op, 'filename', outBase) === 0 &&
      vips.setFromString(op, `tile_size=256,overlap=0,depth=onepixel,Q=${quality},keep=none`) === 0;
    if (set) built = await vips.buildCached(op);
    if (!built) throw vipsFailure(vips, 'dzsave failed');
  } catch (err) {
    failure = err as Error;
  } finally {
    if (built) {
      vips.unrefOutputs(built);
      vips.unref(built);
    } else if (op) {
      vips.unrefOutputs(op);
    }
    if (op) vips.unref(op);
  }
  const feedError = await piped?.close();
  // A file that could not be read shows in libvips only as a short input: its own error says more.
  if (failure) throw feedError ?? failure;
}
