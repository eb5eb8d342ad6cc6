/**
 * A JPEG's or TIFF's decoded pixels as a stream, a buffer's worth at a time: libvips' raw save writes
 * into a pipe that JS reads into one reused buffer (pipe-chunks.ts). sharp's raw output would hold
 * the whole image in one buffer (a band of 118 MP: 354 MB), which a band worker cannot afford
 * (docs/split-jobs.md).
 */
import { closeSync } from 'node:fs';
import { pipeChunks } from '../pipe-chunks.js';
import { vipsFfi } from './vips-ffi.js';
import { buildOperation, releaseOperation } from './vips-operation.js';
import { openFile, type Crop } from './vips-input.js';

/**
 * The interleaved 8-bit samples of `path` (a JPEG or a TIFF) within `crop`, top row first, in chunks
 * of any length; each chunk is valid only until the next is asked for (pipe-chunks.ts).
 */
export async function* decodedPixels(path: string, format: 'jpeg' | 'tiff', crop?: Crop): AsyncGenerator<Buffer> {
  const vips = vipsFfi();
  if (!vips) throw new Error('libvips through koffi is not available');
  const input = await openFile(vips, path, format, crop);
  const fds = new Int32Array(2);
  if (!vips.openPipe(fds)) {
    await input.close();
    throw new Error('cannot open a pipe for the pixels');
  }
  const [readEnd, writeEnd] = [fds[0] as number, fds[1] as number];
  const target = vips.targetFromDescriptor(writeEnd);
  closeSync(writeEnd); // libvips writes its own duplicate, closed with the target: then the reader sees the end
  const saved = buildOperation(vips, 'rawsave_target', input.attach, { objects: { target: { kind: 'target', value: target } } }, `cannot decode the ${format.toUpperCase()}`)
    .then((built): Error | undefined => {
      releaseOperation(vips, built);
      return undefined;
    }, (err: Error) => err)
    .finally(() => {
      // The operation holds the target now: ours goes; the target, and the pipe's write end with it,
      // go with the operation, which libvips' cache would otherwise keep.
      vips.emptyOperationCache();
    });
  vips.unref(target);
  let failure: Error | undefined;
  try {
    // A reader that stops early closes its end (pipeChunks does): libvips' next write fails and the save ends.
    yield* pipeChunks(readEnd);
  } finally {
    failure = await saved;
    const feedError = await input.close();
    failure = feedError ?? failure;
  }
  if (failure) throw failure;
}
