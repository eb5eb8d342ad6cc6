/**
 * An image's bytes fed through a pipe into a libvips loader (dzsave-direct.ts says why a pipe, not
 * the file's name), a JPEG optionally cropped to some of its rows: what dzsave or a raw save then takes.
 * The bytes are a file's own, or a stream made while the cut runs (an Adam7 PNG rewritten non-interlaced).
 */
import { closeSync, createReadStream } from 'node:fs';
import { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Pointer, VipsFfi } from './vips-ffi.js';

/** Read sequentially, and a truncated file is an error rather than grey tiles. */
export const LOAD_OPTIONS = 'access=sequential,fail_on=truncated';

/** Rows `top..top+height` of an image `width` pixels wide. */
export interface RowCrop {
  top: number;
  width: number;
  height: number;
}

/** The libvips loaders that read a pipe, by the format they read. */
export const PIPED_LOADERS: Readonly<Record<string, string>> = { jpeg: 'jpegload_source', png: 'pngload_source' };

/** Writes the bytes the loader reads into `out` and ends it. */
export type Feed = (out: Writable) => Promise<unknown>;

/** A file's own bytes. */
export const fileFeed = (path: string): Feed => (out) => pipeline(createReadStream(path), out);

/** The loaded (and cropped) image, to be attached as an operation's input. */
export interface PipedImage {
  /** The image as the operation's `in`. */
  attach(operation: Pointer): void;
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

/** `format`'s loader (PIPED_LOADERS) reading what `feed` writes; `crop` keeps only some rows. */
export async function openPiped(vips: VipsFfi, format: string, feed: Feed, crop?: RowCrop): Promise<PipedImage> {
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
    if (vips.setFromString(load, LOAD_OPTIONS) !== 0 || (await vips.build(load)) !== 0) throw vipsFailure(vips, `cannot load the ${format.toUpperCase()}`);
  } catch (err) {
    if (load) {
      vips.unrefOutputs(load);
      vips.unref(load);
    }
    throw (await stopFeeding()) ?? err;
  }
  const loaded = load;
  let cropped: { op: Pointer; built: Pointer } | undefined;
  const free = () => {
    if (cropped?.built) {
      vips.unrefOutputs(cropped.built);
      vips.unref(cropped.built);
    } else if (cropped?.op) {
      vips.unrefOutputs(cropped.op);
    }
    if (cropped?.op) vips.unref(cropped.op);
    vips.unrefOutputs(loaded);
    vips.unref(loaded);
  };
  if (crop) {
    // extract_area on a sequential load: libvips reads and drops the rows above, a few lines at a time.
    const op = vips.operationNew('extract_area');
    cropped = { op, built: null };
    vips.copyImageProperty(loaded, 'out', op, 'input');
    const set = vips.setFromString(op, `left=0,top=${crop.top},width=${crop.width},height=${crop.height}`) === 0;
    cropped.built = set ? await vips.buildCached(op) : null;
    if (!cropped.built) {
      const err = vipsFailure(vips, 'cannot crop the input');
      free();
      throw (await stopFeeding()) ?? err;
    }
  }
  const image = cropped ? { from: cropped.built, name: 'out' } : { from: loaded, name: 'out' };
  return {
    attach: (operation) => vips.copyImageProperty(image.from, image.name, operation, 'in'),
    abandon: () => writer.destroy(),
    close: async () => {
      // dzsave's inner steps (cast, line cache) stay in libvips' operation cache, and through them
      // the loader and its pipe: emptied, the pipe closes now, not whenever the cache fills up.
      vips.emptyOperationCache();
      free();
      return stopFeeding();
    },
  };
}

/** libvips' own message (and clears it), or `fallback` when it has none. */
export function vipsFailure(vips: VipsFfi, fallback: string): Error {
  const message = vips.errorBuffer().trim() || fallback;
  vips.errorClear();
  return new Error(message);
}

