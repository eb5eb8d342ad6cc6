/**
 * The one place that talks to S3 object by object. Everything above it (tile
 * upload, resumable multipart, the API's reads) goes through these methods, so
 * retries, error codes and metadata are decided here once.
 *
 * Retries: requests with a replayable body (buffers, no body) are retried by the
 * SDK itself (`maxAttempts`, `retryMode: 'standard'`: exponential back-off with
 * jitter on 5xx, throttling and connection errors). The SDK never retries a
 * streaming body, so `putFile` and `downloadToFile` wrap themselves in
 * `withRetries`, opening a fresh file stream for every attempt. `putSmallObject`
 * bypasses the SDK's stack (lean-put.ts) and so retries with `withRetries` too.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  S3Client,
  paginateListObjectsV2,
  type BucketLocationConstraint,
} from '@aws-sdk/client-s3';
import { BadRequestError, NotFoundError, StorageError } from '../errors.js';
import type { Logger } from '../logger.js';
import { LEAN_PUT_MAX_BYTES, LeanPut } from './lean-put.js';
import { withRetries, type RetryOptions } from './retry.js';
import { errorName, isNotFound, storageError } from './s3-errors.js';

/** Same shape as `Config['s3']` in shared/config.ts. */
export interface S3Settings {
  endpoint?: string | undefined;
  region: string;
  bucket: string;
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  forcePathStyle: boolean;
}

export interface ObjectMeta {
  contentType: string;
  cacheControl?: string;
  /** Object tags as `x-amz-tagging` wants them (`k=v&k2=v2`); the bucket policy reads `visibility` (s3-setup.ts). */
  tags?: string;
}

export interface S3StoreOptions {
  /** Tries per request, the first included, for SDK and stream retries alike. @defaultValue 5 */
  maxAttempts?: number;
  /** A socket idle this long fails the attempt (and it is retried). @defaultValue 60000 */
  requestTimeoutMs?: number;
  /** Retried failures are logged here at warn level. Without one they are silent. */
  logger?: Logger;
  /** Told of every failed request attempt (not a 404), with its operation, e.g. PutObject: the worker counts them. */
  onRequestError?: (op: string) => void;
  /** Sockets `putSmallObject` keeps to the server at most: as many as the tile PUTs meant to be in flight. @defaultValue 32 */
  maxSockets?: number;
}

export interface ObjectHead {
  size: number;
  etag: string;
  contentType?: string;
}

export interface ObjectStream {
  stream: Readable;
  /** Bytes in this response: the range's length when a range was asked for. */
  size: number;
  /** The whole object's size, also for a ranged read. */
  totalSize: number;
  contentType?: string;
  etag: string;
}

const DELETE_BATCH = 1000; // DeleteObjects' own limit

export class S3Store {
  readonly bucket: string;
  /** Exposed for the multipart module and for tests that inspect S3 directly. */
  readonly client: S3Client;
  readonly maxAttempts: number;
  private readonly region: string;
  private readonly retry: RetryOptions;
  private readonly lean: LeanPut;
  private readonly onRequestError: ((op: string) => void) | undefined;

  constructor(settings: S3Settings, opts: S3StoreOptions = {}) {
    this.bucket = settings.bucket;
    this.region = settings.region;
    this.maxAttempts = opts.maxAttempts ?? 5;
    const log = opts.logger;
    this.retry = {
      maxAttempts: this.maxAttempts,
      onRetry: (err, attempt) => log?.warn({ err, attempt }, 'S3 request failed; retrying'),
    };
    this.client = new S3Client({
      // Without a logger the SDK prints to the console when a streaming request
      // fails; those requests are retried by `withRetries`, which logs instead.
      logger: { trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: (...args: unknown[]) => log?.error({ sdk: args }, 'S3 client error') },
      region: settings.region,
      forcePathStyle: settings.forcePathStyle,
      maxAttempts: this.maxAttempts,
      retryMode: 'standard',
      // S3-compatible servers (MinIO, Ceph, R2) differ in which flexible
      // checksums they accept; only send them where the API requires one.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: 5_000, requestTimeout: opts.requestTimeoutMs ?? 60_000 },
      ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
      ...(settings.accessKeyId !== undefined && settings.secretAccessKey !== undefined
        ? { credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey } }
        : {}),
    });
    this.lean = new LeanPut(this.client, this.bucket, opts.requestTimeoutMs ?? 60_000, opts.maxSockets ?? 32);
    this.onRequestError = opts.onRequestError;
    if (this.onRequestError) reportRequestErrors(this.client, this.onRequestError);
  }

  /** Closes the sockets this store holds open (its SDK client's and `putSmallObject`'s). */
  close(): void {
    this.lean.close();
    this.client.destroy();
  }

  /** Creates the bucket when missing; safe to call from every process at start. */
  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (err) {
      if (!isNotFound(err)) throw storageError('HeadBucket', this.bucket, err);
    }
    try {
      const location = this.region === 'us-east-1' ? undefined : { LocationConstraint: this.region as BucketLocationConstraint };
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket, CreateBucketConfiguration: location }));
    } catch (err) {
      // Another process created it between our HEAD and CREATE.
      if (errorName(err) !== 'BucketAlreadyOwnedByYou') throw storageError('CreateBucket', this.bucket, err);
    }
  }

  /** Cheap reachability and permission check for readiness probes. */
  async ping(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      throw storageError('HeadBucket', this.bucket, err);
    }
  }

  /** One PUT streamed from disk; re-opens the file on each retry. */
  async putFile(key: string, path: string, meta: ObjectMeta): Promise<{ etag: string }> {
    return withRetries(async () => {
      const { size } = await stat(path);
      const body = createReadStream(path);
      try {
        const res = await this.client.send(
          new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: size, ...metaParams(meta) }),
        );
        return { etag: res.ETag ?? '' };
      } finally {
        body.destroy();
      }
    }, this.retry).catch((err: unknown) => {
      throw storageError('PutObject', key, err);
    });
  }

  async putBody(key: string, body: Buffer | string, meta: ObjectMeta): Promise<{ etag: string }> {
    try {
      const res = await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ...metaParams(meta) }));
      return { etag: res.ETag ?? '' };
    } catch (err) {
      throw storageError('PutObject', key, err);
    }
  }

  /**
   * Same result as `putBody` (bytes, Content-Type, Cache-Control, ETag, errors)
   * at a fraction of the CPU, for bodies up to 5 MiB: tiles. See lean-put.ts.
   */
  async putSmallObject(key: string, body: Buffer, meta: ObjectMeta): Promise<{ etag: string }> {
    if (body.length > LEAN_PUT_MAX_BYTES) {
      throw new BadRequestError(`putSmallObject takes at most ${LEAN_PUT_MAX_BYTES} bytes; ${key} has ${body.length}`);
    }
    if (key === '') throw new BadRequestError('putSmallObject needs a non-empty key');
    try {
      const target = await this.lean.resolveTarget();
      if (target === null) return await this.putBody(key, body, meta);
      const sha256 = createHash('sha256').update(body).digest('hex');
      const put = () => this.lean.put(target, key, body, sha256, meta);
      return await withRetries(this.onRequestError ? reportingFailures(put, 'PutObject', this.onRequestError) : put, this.retry);
    } catch (err) {
      if (err instanceof StorageError) throw err;
      throw storageError('PutObject', key, err);
    }
  }

  /** `null` when the object does not exist. */
  async head(key: string): Promise<ObjectHead | null> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: res.ContentLength ?? 0, etag: res.ETag ?? '', ...(res.ContentType ? { contentType: res.ContentType } : {}) };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw storageError('HeadObject', key, err);
    }
  }

  /** Throws NotFoundError when the object does not exist. `range.end` is inclusive, as in HTTP. */
  async getStream(key: string, range?: { start: number; end?: number }): Promise<ObjectStream> {
    try {
      const res = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(range ? { Range: `bytes=${range.start}-${range.end ?? ''}` } : {}),
        }),
      );
      const size = res.ContentLength ?? 0;
      const total = res.ContentRange?.match(/\/(\d+)$/)?.[1];
      return {
        stream: res.Body as Readable,
        size,
        totalSize: total === undefined ? size : Number(total),
        etag: res.ETag ?? '',
        ...(res.ContentType ? { contentType: res.ContentType } : {}),
      };
    } catch (err) {
      if (isNotFound(err)) throw new NotFoundError(`object ${key}`);
      throw storageError('GetObject', key, err);
    }
  }

  /** Never leaves a half-written `path`: writes `path.part`, then renames. Returns the bytes written. `range.end` is inclusive. */
  async downloadToFile(key: string, path: string, range?: { start: number; end: number }): Promise<number> {
    const partPath = `${path}.part`;
    await mkdir(dirname(path), { recursive: true });
    try {
      await withRetries(async () => {
        const { stream } = await this.getStream(key, range);
        await pipeline(stream, createWriteStream(partPath));
      }, this.retry);
      await rename(partPath, path);
      return (await stat(path)).size;
    } catch (err) {
      await unlink(partPath).catch(() => undefined);
      if (err instanceof NotFoundError || err instanceof StorageError) throw err;
      throw storageError('GetObject', key, err);
    }
  }

  /** Every key under `prefix`, fetched `pageSize` (at most 1000) at a time. */
  async *listKeys(prefix: string, pageSize = 1000): AsyncIterable<{ key: string; size: number }> {
    try {
      for await (const page of paginateListObjectsV2({ client: this.client, pageSize }, { Bucket: this.bucket, Prefix: prefix })) {
        for (const obj of page.Contents ?? []) {
          if (obj.Key !== undefined) yield { key: obj.Key, size: obj.Size ?? 0 };
        }
      }
    } catch (err) {
      throw storageError('ListObjectsV2', prefix, err);
    }
  }

  async deleteKey(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      throw storageError('DeleteObject', key, err);
    }
  }

  /**
   * Deletes every object whose key starts with `prefix` and aborts unfinished
   * multipart uploads there (they cost storage and are invisible to listings).
   * The match is literal: pass `images/12/`, not `images/12`, unless `images/123/`
   * should go too. An empty prefix (the whole bucket) is refused.
   * Returns the number of objects deleted.
   */
  async deletePrefix(prefix: string): Promise<number> {
    if (prefix === '' || prefix === '/') throw new BadRequestError('deletePrefix refuses to empty the whole bucket');
    let deleted = 0;
    let batch: string[] = [];
    for await (const { key } of this.listKeys(prefix)) {
      batch.push(key);
      if (batch.length === DELETE_BATCH) {
        deleted += await this.deleteBatch(batch);
        batch = [];
      }
    }
    if (batch.length > 0) deleted += await this.deleteBatch(batch);
    await this.abortUploadsUnder(prefix);
    return deleted;
  }

  private async deleteBatch(keys: string[]): Promise<number> {
    try {
      const res = await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }),
      );
      const failed = res.Errors ?? [];
      if (failed.length > 0) {
        const first = failed[0];
        throw new StorageError(`S3 DeleteObjects failed for ${failed.length} keys, e.g. ${first?.Key}: ${first?.Code} ${first?.Message}`);
      }
      return keys.length;
    } catch (err) {
      if (err instanceof StorageError) throw err;
      throw storageError('DeleteObjects', keys[0] ?? '', err);
    }
  }

  private async abortUploadsUnder(prefix: string): Promise<void> {
    for (const upload of await this.pendingUploads(prefix)) {
      try {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: upload.key, UploadId: upload.uploadId }));
      } catch (err) {
        if (errorName(err) !== 'NoSuchUpload') throw storageError('AbortMultipartUpload', upload.key, err);
      }
    }
  }

  /**
   * Unfinished multipart uploads whose key starts with `prefix`. Lists the whole
   * bucket and filters here: MinIO answers a Prefix that is not an exact key
   * with an empty list, where AWS would match it as a prefix.
   */
  async pendingUploads(prefix: string): Promise<Array<{ key: string; uploadId: string }>> {
    const found: Array<{ key: string; uploadId: string }> = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    try {
      for (;;) {
        const page = await this.client.send(
          new ListMultipartUploadsCommand({ Bucket: this.bucket, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
        );
        for (const upload of page.Uploads ?? []) {
          if (upload.Key?.startsWith(prefix) && upload.UploadId) found.push({ key: upload.Key, uploadId: upload.UploadId });
        }
        if (!page.IsTruncated) return found;
        keyMarker = page.NextKeyMarker;
        uploadIdMarker = page.NextUploadIdMarker;
      }
    } catch (err) {
      throw storageError('ListMultipartUploads', prefix, err);
    }
  }
}

export function metaParams(meta: ObjectMeta): { ContentType: string; CacheControl?: string; Tagging?: string } {
  return {
    ContentType: meta.contentType,
    ...(meta.cacheControl === undefined ? {} : { CacheControl: meta.cacheControl }),
    ...(meta.tags === undefined ? {} : { Tagging: meta.tags }),
  };
}

/**
 * An SDK middleware inside its retry loop, so each failed attempt is reported with its operation.
 * A 404 is an answer (head() returns null for it), not a failure.
 */
function reportRequestErrors(client: S3Client, report: (op: string) => void): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        if (!notFound(err)) report((context.commandName ?? 'unknown').replace(/Command$/, ''));
        throw err;
      }
    },
    { step: 'finalizeRequest', priority: 'low', name: 'hugemapRequestErrors' },
  );
}

/** The lean PUT bypasses the SDK's middleware: the same report, around each of its attempts. */
function reportingFailures<T>(attempt: () => Promise<T>, op: string, report: (op: string) => void): () => Promise<T> {
  return async () => {
    try {
      return await attempt();
    } catch (err) {
      if (!notFound(err)) report(op);
      throw err;
    }
  };
}

function notFound(err: unknown): boolean {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode === 404;
}
