/**
 * A JPEG's decoded pixels as a stream, a pipe's worth at a time: libvips' raw save writes into a
 * pipe that JS reads. sharp's raw output would hold the whole image in one buffer (a band of
 * 118 MP: 354 MB), which a band worker cannot afford (docs/split-jobs.md).
 */
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import { vipsFfi, type Pointer } from './vips-ffi.js';
import { fileFeed, openPiped, vipsFailure, type RowCrop } from './vips-piped.js';

/** The interleaved 8-bit samples of `path` (a JPEG) within `crop`, top row first, in chunks of any length. */
export async function* decodedJpegPixels(path: string, crop?: RowCrop): AsyncGenerator<Buffer> {
  const vips = vipsFfi();
  if (!vips) throw new Error('libvips through koffi is not available');
  const piped = await openPiped(vips, 'jpeg', fileFeed(path), crop);
  const fds = new Int32Array(2);
  if (!vips.openPipe(fds)) {
    await piped.close();
    throw new Error('cannot open a pipe for the pixels');
  }
  const [readEnd, writeEnd] = [fds[0] as number, fds[1] as number];
  // A non-blocking socket on the read end: no thread of the pool waits on an empty pipe.
  const reader = new Socket({ fd: readEnd, readable: true, writable: false });
  const target = vips.targetFromDescriptor(writeEnd);
  closeSync(writeEnd); // libvips writes its own duplicate, closed with the target: then the reader sees the end
  const op: Pointer = vips.operationNew('rawsave_target');
  piped.attach(op);
  vips.setObjectProperty(op, 'target', 'target', target);
  vips.unref(target);
  const saved = vips.buildCached(op).then((built) => {
    const failure = built ? undefined : vipsFailure(vips, 'cannot decode the JPEG');
    if (built) {
      vips.unrefOutputs(built);
      vips.unref(built);
    } else {
      vips.unrefOutputs(op);
    }
    vips.unref(op);
    // The target goes with the operation, and the pipe's write end with it.
    vips.emptyOperationCache();
    return failure;
  });
  let failure: Error | undefined;
  try {
    for await (const chunk of reader) yield chunk as Buffer;
  } finally {
    // A reader that stopped early closes its end: libvips' next write fails and the save ends.
    reader.destroy();
    failure = await saved;
    const feedError = await piped.close();
    failure = feedError ?? failure;
  }
  if (failure) throw failure;
}
