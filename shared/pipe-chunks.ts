/**
 * A pipe's bytes, read chunk by chunk into one buffer allocated once. A Socket's own reads put each
 * chunk in a new Buffer, freed only when V8 next collects: streaming a 3 GB band's pixels out of
 * libvips left 70-85 MB of them waiting (a 40960 x 24576 band, 274 -> 191 MB peak RSS;
 * docs/split-jobs.md, "Memory"). Node's `onread` option reads into a buffer of ours instead, and
 * pauses the socket while a chunk is out: no thread waits on the pipe, and no garbage is made.
 */
import { Socket, type ConnectOpts, type SocketConstructorOpts } from 'node:net';

export const DEFAULT_CHUNK_BYTES = 1 << 20;

/**
 * The bytes read from `fd` (a pipe's read end, owned and closed here) until its writer closes it.
 * Each chunk is a view of the same buffer, valid only until the next one is asked for: copy what
 * must outlive it. Leaving the loop early closes the pipe, so the writer's next write fails.
 */
export async function* pipeChunks(fd: number, bufferBytes = DEFAULT_CHUNK_BYTES): AsyncGenerator<Buffer, void, undefined> {
  const buffer = Buffer.allocUnsafe(bufferBytes);
  let chunk: Buffer | undefined;
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const settle = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const options: SocketConstructorOpts & Pick<ConnectOpts, 'onread'> = {
    fd,
    readable: true,
    writable: false,
    onread: {
      buffer,
      callback: (bytes) => {
        chunk = buffer.subarray(0, bytes);
        settle();
        return false; // paused until the chunk has been used: the next read would overwrite it
      },
    },
  };
  const socket = new Socket(options);
  socket.on('end', () => {
    ended = true;
    settle();
  });
  socket.on('error', (err) => {
    failure = err;
    settle();
  });
  try {
    socket.resume();
    for (;;) {
      if (chunk === undefined && !ended && !failure) await new Promise<void>((resolve) => (wake = resolve));
      if (chunk !== undefined) {
        const out = chunk;
        chunk = undefined;
        yield out;
        socket.resume(); // net.Socket's resume restarts reading into the buffer
        continue;
      }
      if (failure) throw failure;
      return;
    }
  } finally {
    socket.destroy();
  }
}
