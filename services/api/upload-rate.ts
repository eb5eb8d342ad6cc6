/**
 * A request body that trickles (or never ends) must not hold a connection for
 * ever: every MIN_UPLOAD_RATE_WINDOW_S the socket must have brought at least
 * MIN_UPLOAD_BYTES_PER_SECOND x window bytes, else the request is answered 408
 * HUGEMAP_ERR_UPLOAD_TOO_SLOW and the connection closed. Node's own
 * requestTimeout cannot do this: a multi-gigabyte upload legitimately lasts hours.
 */
import type { RequestHandler } from 'express';
import type { Config } from '../../shared/config.js';
import { UploadTooSlowError } from '../../shared/errors.js';

export function minimumUploadRate(config: Pick<Config, 'minUploadBytesPerSecond' | 'minUploadRateWindowS'>): RequestHandler {
  const windowMs = config.minUploadRateWindowS * 1000;
  const minBytes = config.minUploadBytesPerSecond * config.minUploadRateWindowS;
  return (req, res, next) => {
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (!hasBody || minBytes === 0) return next();
    const socket = req.socket;
    let seen = socket.bytesRead;
    const timer = setInterval(() => {
      if (req.complete) return stop();
      const now = socket.bytesRead;
      if (now - seen >= minBytes) {
        seen = now;
        return;
      }
      stop();
      const body = { error: new UploadTooSlowError(config.minUploadBytesPerSecond).toJSON() };
      if (res.headersSent) return void socket.destroy();
      res.status(408).set({ Connection: 'close', 'Cache-Control': 'no-store' }).json(body);
      res.once('finish', () => socket.destroy());
    }, windowMs);
    timer.unref();
    const stop = () => clearInterval(timer);
    req.once('end', stop);
    res.once('close', stop);
    next();
  };
}
