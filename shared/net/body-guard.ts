/**
 * Wraps a response body so the caller can stream it without re-checking
 * limits: the byte cap, the idle timeout and the overall deadline all end the
 * stream with a HugemapError, and abandoning the stream closes the connection.
 */
import type { IncomingMessage } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { UploadTooLargeError } from '../errors.js';
import { asFetchError } from './url-policy.js';

/**
 * Fires `onIdle` when no bytes arrived for `ms` while we were waiting for some.
 * A body paused by backpressure is not idle: the reader is slow, not the server.
 */
export class IdleTimer {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ms: number,
    private readonly onIdle: () => void,
    private readonly isPaused: () => boolean = () => false,
  ) {}

  touch(): void {
    this.stop();
    this.timer = setTimeout(() => (this.isPaused() ? this.touch() : this.onIdle()), this.ms);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

export interface BodyGuardOptions {
  url: URL;
  maxBytes: number;
  /** Bytes the caller already holds (a resumed download): they count against maxBytes. */
  offset: number;
  idleTimeoutMs: number;
  /** Aborted with the HugemapError to end the body with (the overall deadline, or an idle timeout). */
  controller: AbortController;
  /** Called once when the body is finished, failed or abandoned: clears the caller's timers. */
  onClose: () => void;
  idleError: () => Error;
}

export function guardBody(res: IncomingMessage, opts: BodyGuardOptions): Readable {
  const { controller } = opts;
  let seen = opts.offset;
  const out = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      // A server may send more than its Content-Length promised, or no length at all.
      if (seen > opts.maxBytes) return callback(new UploadTooLargeError(opts.maxBytes));
      callback(null, chunk);
    },
  });
  const idle = new IdleTimer(opts.idleTimeoutMs, () => controller.abort(opts.idleError()), () => res.isPaused());
  const onAbort = (): void => void res.destroy(controller.signal.reason as Error);

  res.on('data', () => idle.touch());
  res.on('end', () => idle.stop());
  // Whatever ended the response (a reset, our own abort), the reader sees a HugemapError.
  res.on('error', (err) => out.destroy(controller.signal.aborted ? (controller.signal.reason as Error) : asFetchError(opts.url, err)));
  controller.signal.addEventListener('abort', onAbort, { once: true });
  out.on('close', () => {
    idle.stop();
    controller.signal.removeEventListener('abort', onAbort);
    opts.onClose();
    // The reader stopped early or the cap was hit: drop the connection rather than drain gigabytes.
    if (!res.complete) res.destroy();
  });

  idle.touch();
  res.pipe(out);
  return out;
}
