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
 * sharp exposes no way to call it, so this calls sharp's own libvips through
 * koffi (an FFI with prebuilt binaries), using only non-variadic functions so
 * the call can run on libuv's thread pool: the operation is built the way the
 * `vips` command line builds one, from strings.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

type Pointer = unknown;

interface VipsApi {
  operationNew(name: string): Pointer;
  setArgument(op: Pointer, name: string, value: string): number;
  setFromString(op: Pointer, options: string): number;
  build(op: Pointer): Promise<Pointer>;
  unrefOutputs(op: Pointer): void;
  unref(object: Pointer): void;
  errorBuffer(): string;
  errorClear(): void;
}

let api: VipsApi | null | undefined;

/** sharp's libvips shared library (its package exports the path as `/binary`), or null. */
function sharpLibvipsPath(): string | null {
  const require = createRequire(import.meta.url);
  const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
  const libc = process.platform === 'linux' && !glibc ? 'musl' : '';
  try {
    return require.resolve(`@img/sharp-libvips-${process.platform}${libc}-${process.arch}/binary`, { paths: [dirname(require.resolve('sharp'))] });
  } catch {
    return null;
  }
}

function loadApi(): VipsApi | null {
  if (api !== undefined) return api;
  api = null;
  const path = sharpLibvipsPath();
  if (!path) return api;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const lib = koffi.load(path);
    const build = lib.func('void *vips_cache_operation_build(void *operation)');
    api = {
      operationNew: lib.func('void *vips_operation_new(const char *name)'),
      setArgument: lib.func('int vips_object_set_argument_from_string(void *object, const char *name, const char *value)'),
      setFromString: lib.func('int vips_object_set_from_string(void *object, const char *options)'),
      build: (op) =>
        new Promise((resolve, reject) => {
          build.async(op, (err: unknown, built: Pointer) => (err ? reject(err) : resolve(built)));
        }),
      unrefOutputs: lib.func('void vips_object_unref_outputs(void *object)'),
      unref: lib.func('void g_object_unref(void *object)'),
      errorBuffer: lib.func('const char *vips_error_buffer(void)'),
      errorClear: lib.func('void vips_error_clear(void)'),
    };
  } catch {
    api = null;
  }
  return api;
}

/** Whether direct mode can be used here (sharp's libvips and koffi both load). */
export function directDzsaveAvailable(): boolean {
  return loadApi() !== null;
}

/**
 * Paths that libvips would misread when given as a string: it treats a
 * trailing `[...]` as load options. Such inputs take the sharp path.
 */
export function directSafePath(path: string): boolean {
  return !/[[\]]/.test(path);
}

/**
 * dzsave of `inputPath` (read sequentially) to `<outBase>.dzi` and
 * `<outBase>_files/`, 256 px tiles, no overlap, down to 1x1, JPEG at `quality`,
 * no metadata in the tiles. The input must need no colour conversion.
 */
export async function dzsaveDirect(inputPath: string, outBase: string, quality: number): Promise<void> {
  const vips = loadApi();
  if (!vips) throw new Error('dzsave direct mode is not available (sharp\'s libvips or koffi did not load)');
  if (!directSafePath(inputPath) || !directSafePath(outBase)) throw new Error(`dzsave direct mode cannot take a path with [ or ]: ${inputPath}`);
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) throw new Error(`quality must be 1..100, got ${quality}`);
  const op = vips.operationNew('dzsave');
  if (!op) throw new Error(vips.errorBuffer() || 'vips_operation_new(dzsave) failed');
  let built: Pointer = null;
  try {
    const set =
      vips.setArgument(op, 'in', `${inputPath}[access=sequential,fail_on=truncated]`) === 0 &&
      vips.setArgument(op, 'filename', outBase) === 0 &&
      vips.setFromString(op, `tile_size=256,overlap=0,depth=onepixel,Q=${quality},keep=none`) === 0;
    if (set) built = await vips.build(op);
    if (!built) {
      const message = vips.errorBuffer().trim() || 'dzsave failed';
      vips.errorClear();
      throw new Error(message);
    }
  } finally {
    if (built) {
      vips.unrefOutputs(built);
      vips.unref(built);
    } else {
      vips.unrefOutputs(op);
    }
    vips.unref(op);
  }
}
