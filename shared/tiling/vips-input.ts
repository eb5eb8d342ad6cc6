/**
 * An image opened in libvips, optionally cropped to some of its rows and columns: what dzsave or a
 * raw save takes. A JPEG or PNG has its bytes fed through a pipe into the loader (dzsave-direct.ts
 * says why a pipe, not the file's name): a file's own, or a stream made while the cut runs (an
 * Adam7 PNG rewritten non-interlaced). A TIFF is loaded by name: libvips does not map it, and its
 * loader reads only the strips or tiles the crop needs, so a band of a tiled TIFF decodes none of
 * the rows above, nor a column of it the tiles beside.
 */
import { closeSync, createReadStream } from 'node:fs';
import { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Pointer, VipsFfi } from './vips-ffi.js';
import { buildOperation, outputOf, releaseOperation, vipsFailure } from './vips-operation.js';

/** Read sequentially, and a truncated file is an error rather than grey tiles. */
export const LOAD_OPTIONS = 'access=sequential,fail_on=truncated';

/**
 * Rows `top..top+height` of an image, columns `left..left+width` (all of them when `left` is 0 and
 * `width` the image's): a band of an image, or a column of a band (band-plan.ts, bandColumns).
 */
export interface Crop {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** The libvips loaders that read a pipe, by the format they read. */
export const PIPED_LOADERS: Readonly<Record<string, string>> = { jpeg: 'jpegload_source', png: 'pngload_source' };

/** The libvips loaders that read a file by its name, by the format they read. */
export const NAMED_LOADERS: Readonly<Record<string, string>> = { tiff: 'tiffload' };

/** Whether openFile can read only some rows of a `format` file: a JPEG (piped) or a format loaded by name. */
export function canCrop(format: string): boolean {
  return format === 'jpeg' || NAMED_LOADERS[format] !== undefined;
}

/** Writes the bytes the loader reads into `out` and ends it. */
export type Feed = (out: Writable) => Promise<unknown>;

/** A file's own bytes. */
export const fileFeed = (path: string): Feed => (out) => pipeline(createReadStream(path), out);

/** The loaded (and cropped) image, to be attached as an operation's input. */
export interface OpenedImage {
  /** The image as the operation's `in` (a function of its own: passed on unbound, as an AttachInput). */
  attach: (operation: Pointer) => void;
  /** Frees the loader and stops feeding; resolves to the feeding's error, if reading the file failed. */
  close(): Promise<Error | undefined>;
  /**
   * Stops feeding now, for a cut given up (Ctrl-C): libvips reads the end of its input and fails,
   * so its threads finish. Without it they waited on the pipe for ever, and so did the process's exit.
   */
  abandon(): void;
}

/** libvips stops reading once it has what it needs, or on an error: the rest of the write is refused. */
function isBrokenPipe(err: Error): boolean {
  return (err as NodeJS.ErrnoException).code === 'EPIPE' || (err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE';
}

/**
 * `format`'s loader (PIPED_LOADERS) reading what `feed` writes; `crop` keeps only part of it;
 * `loadOptions` more of the loader's options (a JPEG's `shrink=8`).
 */
export async function openPiped(vips: VipsFfi, format: string, feed: Feed, crop?: Crop, loadOptions?: string): Promise<OpenedImage> {
  const loader = PIPED_LOADERS[format];
  if (!loader) throw new Error(`libvips cannot read ${format} from a pipe`);
  const fds = new Int32Array(2);
  if (!vips.openPipe(fds)) throw new Error('cannot open a pipe for the input');
  const [readEnd, writeEnd] = [fds[0] as number, fds[1] as number];
  // A non-blocking socket on the write end: the event loop feeds it, no thread waits on a full pipe.
  const writer = new Socket({ fd: writeEnd, readable: false, writable: true });
  let feedError: Error | undefined;
  const feeding = feed(writer).catch((err: Error) => {
    if (!isBrokenPipe(err)) feedError = err;
  });
  const stopFeeding = async () => {
    writer.destroy();
    await feeding;
    return feedError;
  };
  let load: Pointer = null;
  try {
    // libvips reads its own duplicate of the read end: ours is closed at once, so the pipe closes with the loader.
    const source = vips.sourceFromDescriptor(readEnd);
    closeSync(readEnd);
    if (!source) throw vipsFailure(vips, 'cannot read the input pipe');
    load = vips.operationNew(loader);
    vips.setObjectProperty(load, 'source', 'source', source);
    vips.unref(source);
    // The header is read here, from the pipe, on the thread pool while the event loop feeds it.
    const options = loadOptions ? `${LOAD_OPTIONS},${loadOptions}` : LOAD_OPTIONS;
    if (vips.setFromString(load, options) !== 0 || (await vips.build(load)) !== 0) throw vipsFailure(vips, `cannot load the ${format.toUpperCase()}`);
  } catch (err) {
    releaseOperation(vips, load);
    throw (await stopFeeding()) ?? err;
  }
  return cropped(vips, load, crop, { stop: stopFeeding, abandon: () => writer.destroy() });
}

/** `path` loaded by name with `format`'s loader (NAMED_LOADERS); `crop` keeps only part of it. */
export async function openNamed(vips: VipsFfi, path: string, format: string, crop?: Crop): Promise<OpenedImage> {
  const loader = NAMED_LOADERS[format];
  if (!loader) throw new Error(`no loader by name for ${format}`);
  const load = vips.operationNew(loader);
  if (!load) throw vipsFailure(vips, `vips_operation_new(${loader}) failed`);
  if (vips.setArgument(load, 'filename', path) !== 0 || vips.setFromString(load, LOAD_OPTIONS) !== 0 || (await vips.build(load)) !== 0) {
    const err = vipsFailure(vips, `cannot load the ${format.toUpperCase()}`);
    releaseOperation(vips, load);
    throw err;
  }
  // Nothing is fed: the loader reads the file itself, and stops with the operations that hold it.
  return cropped(vips, load, crop, { stop: async () => undefined, abandon: () => undefined });
}

/**
 * A file opened as libvips should read it: a JPEG through a pipe (libvips would map the file), a
 * format of NAMED_LOADERS by its name; `crop` keeps only part of it.
 */
export function openFile(vips: VipsFfi, path: string, format: string, crop?: Crop): Promise<OpenedImage> {
  return format === 'jpeg' ? openPiped(vips, format, fileFeed(path), crop) : openNamed(vips, path, format, crop);
}

/** The built loader `loaded` as an OpenedImage, through an extract_area of `crop` where given. */
async function cropped(vips: VipsFfi, loaded: Pointer, crop: Crop | undefined, input: { stop(): Promise<Error | undefined>; abandon(): void }): Promise<OpenedImage> {
  let extract: Pointer = null;
  if (crop) {
    // extract_area on a sequential load: libvips reads and drops the rows above, a few lines at a
    // time (a tiled TIFF's loader starts at the tiles of the first row instead, and reads only the
    // tiles of the columns asked for).
    try {
      extract = await buildOperation(vips, 'extract_area', (op) => vips.copyImageProperty(loaded, 'out', op, 'input'), {
        options: `left=${crop.left},top=${crop.top},width=${crop.width},height=${crop.height}`,
      }, 'cannot crop the input');
    } catch (err) {
      releaseOperation(vips, loaded);
      throw (await input.stop()) ?? err;
    }
  }
  const image = extract ?? loaded;
  return {
    attach: outputOf(vips, image),
    abandon: input.abandon,
    close: async () => {
      // dzsave's inner steps (cast, line cache) stay in libvips' operation cache, and through them
      // the loader and its input: emptied, the pipe or file closes now, not whenever the cache fills up.
      vips.emptyOperationCache();
      releaseOperation(vips, extract);
      releaseOperation(vips, loaded);
      return input.stop();
    },
  };
}
