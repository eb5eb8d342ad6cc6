/**
 * The one place an error becomes an HTTP answer: `{error:{code,message}}` on one
 * line with a stable code. Unknown errors are logged with their stack and
 * answered with a bare 500, so internals never reach a client.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { BadRequestError, BodyTooLargeError, HugemapError, NotFoundError, RateLimitedError, UnauthenticatedError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';

const INTERNAL = { error: { code: 'HUGEMAP_ERR_INTERNAL', message: 'internal error' } };

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new NotFoundError(`route ${req.method} ${req.path}`));
};

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const known = asKnownError(err);
    if (!known || known.code === 'HUGEMAP_ERR_INTERNAL') {
      logger.error({ err, method: req.method, url: req.originalUrl }, 'unhandled error');
    } else if (known.httpStatus >= 500) {
      logger.warn({ err, method: req.method, url: req.originalUrl }, known.message);
    }
    if (res.headersSent) {
      // Too late for an error body: cut the response so the client sees it is incomplete.
      res.destroy();
      return;
    }
    if (!known || known.code === 'HUGEMAP_ERR_INTERNAL') {
      res.status(500).json(INTERNAL);
      return;
    }
    // Busy (503) and rate-limited (429) answers say when to come back.
    if ('retryAfterSeconds' in known && typeof known.retryAfterSeconds === 'number') res.set('Retry-After', String(known.retryAfterSeconds));
    // A 5xx message names hosts and ports of our own servers: the log has it, the client gets the code.
    const message = known.httpStatus >= 500 ? 'temporarily unavailable; try again later' : oneLine(known.message);
    if (known instanceof UnauthenticatedError) res.set('WWW-Authenticate', 'Bearer realm="hugemap"');
    if (known instanceof RateLimitedError) res.set('Retry-After', String(known.retryAfterSeconds));
    res.status(known.httpStatus).json({ error: { code: known.code, message } });
  };
}

/** Our errors, plus the body parser's 4xx (bad JSON, body too large) as a plain bad request. */
function asKnownError(err: unknown): HugemapError | null {
  if (err instanceof HugemapError) return err;
  if (isClientHttpError(err)) {
    if (err.type === 'entity.parse.failed') return new BadRequestError('request body is not valid JSON');
    if (err.type === 'entity.too.large') return new BodyTooLargeError();
    return new BadRequestError('invalid request body');
  }
  return null;
}

function isClientHttpError(err: unknown): err is { status: number; type?: string } {
  if (typeof err !== 'object' || err === null) return false;
  const status = (err as { status?: unknown }).status;
  return typeof status === 'number' && status >= 400 && status < 500 && (err as { expose?: unknown }).expose === true;
}

function oneLine(message: string): string {
  return (message.split('\n')[0] ?? '').slice(0, 500);
}
