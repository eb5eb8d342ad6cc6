/**
 * Every failure a user can cause or see has a class here with a stable `code`.
 * The same code appears in the CLI's one-line message, the HTTP error body
 * (`{error:{code,message}}`) and the failed job's status document, so a code
 * never changes meaning once released.
 *
 * `permanent` errors are the user's input being wrong: retrying cannot help, so
 * the worker fails the job at once (BullMQ UnrecoverableError). Everything else
 * is presumed transient and retried with backoff.
 */
export class HugemapError extends Error {
  readonly code: string;
  readonly httpStatus: number;
  readonly permanent: boolean;

  constructor(code: string, message: string, opts: { httpStatus?: number; permanent?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.httpStatus = opts.httpStatus ?? 500;
    this.permanent = opts.permanent ?? false;
  }

  toJSON(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** Bad input: permanent, a 4xx over HTTP. */
class InputError extends HugemapError {
  constructor(code: string, message: string, httpStatus = 422, cause?: unknown) {
    super(code, message, { httpStatus, permanent: true, cause });
  }
}

export class InputNotFoundError extends InputError {
  constructor(path: string) {
    super('HUGEMAP_ERR_INPUT_NOT_FOUND', `input not found: ${path}`, 404);
  }
}

export class EmptyInputError extends InputError {
  constructor(what: string) {
    super('HUGEMAP_ERR_EMPTY_INPUT', `${what} is empty (0 bytes)`, 422);
  }
}

export class NotAnImageError extends InputError {
  constructor(what: string, detail?: string, cause?: unknown) {
    super('HUGEMAP_ERR_NOT_AN_IMAGE', `${what} is not a supported image (JPEG, PNG, TIFF, WebP)${detail ? `: ${detail}` : ''}`, 415, cause);
  }
}

export class CorruptImageError extends InputError {
  constructor(what: string, detail: string, cause?: unknown) {
    super('HUGEMAP_ERR_CORRUPT_IMAGE', `${what} is damaged or truncated: ${detail}`, 422, cause);
  }
}

export class TooManyPixelsError extends InputError {
  constructor(width: number, height: number, maxPixels: number) {
    super(
      'HUGEMAP_ERR_TOO_MANY_PIXELS',
      `image is ${width}x${height} = ${(width * height).toLocaleString('en-US')} pixels, more than the limit of ${maxPixels.toLocaleString('en-US')}`,
      413,
    );
  }
}

/**
 * Progressive JPEGs are rewritten as baseline on disk before tiling
 * (tiling/jpeg-progressive.ts). The few that cannot be (12-bit, arithmetic
 * coding, more than 10 blocks per MCU...) must be decoded whole: the decoder
 * holds every DCT coefficient (about 3.7 bytes a pixel measured,
 * docs/memory.md), so above a limit they are refused rather than let a worker
 * run out of memory. `why` says what kept the file from being rewritten.
 */
export class NotStreamableError extends InputError {
  constructor(kind: string, pixels: number, limit: number, why?: string) {
    super(
      'HUGEMAP_ERR_NOT_STREAMABLE',
      `${kind} of ${pixels.toLocaleString('en-US')} pixels must be decoded whole in memory${why ? ` (${why})` : ''}; the limit for such files is ${limit.toLocaleString('en-US')} pixels (MAX_BUFFERED_PIXELS): save it as a baseline JPEG, a PNG or a TIFF`,
      413,
    );
  }
}

/**
 * A progressive JPEG of a kind the baseline rewrite does not handle. Same code
 * as NotStreamableError: for the caller it means the same thing (only a
 * whole-image decode can read this file), and tiling then decodes it in memory
 * if it is small enough or refuses it with NotStreamableError.
 */
export class UntranscodableJpegError extends InputError {
  readonly detail: string;

  constructor(what: string, detail: string) {
    super('HUGEMAP_ERR_NOT_STREAMABLE', `${what} cannot be rewritten as a baseline JPEG: ${detail}`, 413);
    this.detail = detail;
  }
}

export class UploadTooLargeError extends InputError {
  constructor(maxBytes: number) {
    super('HUGEMAP_ERR_UPLOAD_TOO_LARGE', `upload is larger than the limit of ${maxBytes.toLocaleString('en-US')} bytes`, 413);
  }
}

export class UrlForbiddenError extends InputError {
  constructor(url: string, reason: string) {
    super('HUGEMAP_ERR_URL_FORBIDDEN', `refusing to fetch ${url}: ${reason}`, 400);
  }
}

/**
 * The remote server failed us. A 404 or a redirect loop will not heal, so those
 * are permanent; timeouts, dropped connections and 5xx answers may, so the
 * worker retries them with backoff (`transient: true`).
 */
export class UrlFetchError extends HugemapError {
  constructor(url: string, reason: string, cause?: unknown, opts: { transient?: boolean } = {}) {
    super('HUGEMAP_ERR_URL_FETCH_FAILED', `could not fetch ${url}: ${reason}`, {
      httpStatus: 422,
      permanent: !opts.transient,
      cause,
    });
  }
}

export class BadRequestError extends InputError {
  constructor(message: string) {
    super('HUGEMAP_ERR_BAD_REQUEST', message, 400);
  }
}

export class NotFoundError extends InputError {
  constructor(what: string) {
    super('HUGEMAP_ERR_NOT_FOUND', `${what} not found`, 404);
  }
}

export class ConfigError extends HugemapError {
  constructor(message: string) {
    super('HUGEMAP_ERR_CONFIG', message, { httpStatus: 500, permanent: true });
  }
}

/** S3, MongoDB, Redis or network trouble: retried with backoff. */
export class TransientError extends HugemapError {
  constructor(code: string, message: string, cause?: unknown) {
    super(code, message, { httpStatus: 503, permanent: false, cause });
  }
}

export class StorageError extends TransientError {
  constructor(message: string, cause?: unknown) {
    super('HUGEMAP_ERR_STORAGE', message, cause);
  }
}

/** Turns anything thrown into a HugemapError without losing a known code. */
export function toHugemapError(err: unknown): HugemapError {
  if (err instanceof HugemapError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new HugemapError('HUGEMAP_ERR_INTERNAL', message.split('\n')[0] ?? 'internal error', { cause: err });
}

/**
 * The same error for someone who never saw this machine's disk: each local path in its message
 * replaced by what it stands for (a scratch copy of an upload by "the original image", a folder
 * by nothing, leaving paths relative to it). The tiler names the files it reads, which helps on
 * the command line and in logs but, shown to whoever uploaded the image, only tells them how the
 * server's disk is laid out. Code, HTTP status and permanence stay; the original is the cause.
 */
export function withLocalPathsHidden(err: HugemapError, shownAs: ReadonlyArray<readonly [path: string, shown: string]>): HugemapError {
  let message = err.message;
  for (const [path, shown] of shownAs) message = message.replaceAll(path, shown);
  if (message === err.message) return err;
  return new HugemapError(err.code, message, { httpStatus: err.httpStatus, permanent: err.permanent, cause: err });
}

/** A command line that cannot be run as written (unknown option, bad value). The CLI exits 2. */
export class UsageError extends HugemapError {
  constructor(message: string) {
    super('HUGEMAP_ERR_USAGE', message, { httpStatus: 400, permanent: true });
  }
}

/** Work stopped on request (SIGINT/SIGTERM, shutdown); running it again can succeed. */
export class InterruptedError extends HugemapError {
  constructor(what: string) {
    super('HUGEMAP_ERR_INTERRUPTED', `${what} was interrupted`, { httpStatus: 503, permanent: false });
  }
}

/** A program hugemap starts (redis-server, ferretdb, minio for `hugemap dev`) is not installed or built. */
export class MissingBinaryError extends HugemapError {
  constructor(message: string) {
    super('HUGEMAP_ERR_MISSING_BINARY', message, { httpStatus: 500, permanent: true });
  }
}

/** `hugemap dev` could not bring its API or worker up. */
export class DevStartError extends HugemapError {
  constructor(message: string) {
    super('HUGEMAP_ERR_DEV_START', message, { httpStatus: 500, permanent: true });
  }
}

/** A scaled-image size that needs a signature came without a valid one. */
export class BadSignatureError extends InputError {
  constructor(message: string) {
    super('HUGEMAP_ERR_BAD_SIGNATURE', message, 403);
  }
}

/** A well-formed request for something this server does not implement (IIIF: a format it cannot write). */
export class NotImplementedError extends InputError {
  constructor(message: string) {
    super('HUGEMAP_ERR_NOT_IMPLEMENTED', message, 501);
  }
}

/**
 * Too much work queued already (renders): try again shortly. Transient, a 503 with
 * Retry-After (`retryAfterSeconds`), so clients and proxies back off instead of piling on.
 */
export class BusyError extends HugemapError {
  readonly retryAfterSeconds: number;

  constructor(what: string, retryAfterSeconds: number) {
    super('HUGEMAP_ERR_BUSY', `too many ${what} waiting; try again in ${retryAfterSeconds} s`, { httpStatus: 503, permanent: false });
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** No credential, or one that is unknown, expired or revoked: 401 with `WWW-Authenticate: Bearer`. */
export class UnauthenticatedError extends InputError {
  constructor(message = 'sign in or send an API key (Authorization: Bearer hm_...)') {
    super('HUGEMAP_ERR_UNAUTHENTICATED', message, 401);
  }
}

/** A known caller asking for something their role, scopes or ownership do not allow. */
export class ForbiddenError extends InputError {
  constructor(message = 'not allowed') {
    super('HUGEMAP_ERR_FORBIDDEN', message, 403);
  }
}

/** Too many requests of one kind from one caller; `retryAfterSeconds` becomes Retry-After. */
export class RateLimitedError extends InputError {
  readonly retryAfterSeconds: number;

  constructor(what: string, retryAfterSeconds: number) {
    super('HUGEMAP_ERR_RATE_LIMITED', `too many ${what}; try again in ${retryAfterSeconds} s`, 429);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** A user's storage quota (bytes, images or pixels) would be exceeded. */
export class QuotaExceededError extends InputError {
  constructor(message: string) {
    super('HUGEMAP_ERR_QUOTA_EXCEEDED', message, 413);
  }
}

/** A conflicting write (a user or key name already taken). */
export class ConflictError extends InputError {
  constructor(message: string) {
    super('HUGEMAP_ERR_CONFLICT', message, 409);
  }
}

/** A request body (JSON, form) larger than its route accepts; uploads have their own UploadTooLargeError. */
export class BodyTooLargeError extends InputError {
  constructor() {
    super('HUGEMAP_ERR_TOO_LARGE', 'request body is too large', 413);
  }
}

/** A request body that trickles: slower than MIN_UPLOAD_BYTES_PER_SECOND over a window (services/api/upload-rate.ts). */
export class UploadTooSlowError extends InputError {
  constructor(minBytesPerSecond: number) {
    super('HUGEMAP_ERR_UPLOAD_TOO_SLOW', `request body slower than ${minBytesPerSecond} bytes/s; connection closed`, 408);
  }
}
