/**
 * Large uploads that survive a killed process or a broken connection.
 *
 * `uploadFileResumable` (a file on disk, e.g. a big original the worker keeps)
 * records its UploadId and finished parts through `onCheckpoint`; the caller
 * persists that state, and a later run hands it back to continue where the
 * last one stopped. S3, not the checkpoint, decides which parts exist: a part
 * that finished after the last checkpoint is not sent twice, and one recorded
 * but lost is sent again.
 *
 * `uploadStream` (the API's incoming request body) cannot resume, since the
 * client's bytes are gone, so it aims for the opposite: bounded memory and
 * nothing left behind when it fails.
 */
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  UploadPartCommand,
  type Part,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { EmptyInputError, HugemapError, StorageError, UploadTooLargeError } from '../errors.js';
import { runPool } from './run-pool.js';
import { errorName, storageError } from './s3-errors.js';
import { metaParams, type ObjectMeta, type S3Store } from './s3-store.js';

export interface MultipartState {
  uploadId: string;
  key: string;
  partSize: number;
  parts: Array<{ PartNumber: number; ETag: string; Size: number }>;
}

export const MIN_PART_SIZE = 5 * 1024 * 1024; // S3's minimum for every part but the last
export const DEFAULT_PART_SIZE = 16 * 1024 * 1024;

export interface ResumableUploadOptions {
  meta: ObjectMeta;
  /** Raised to MIN_PART_SIZE when smaller. @defaultValue 16 MiB */
  partSize?: number;
  /** Parts in flight at once; memory is about concurrency x partSize. @defaultValue 4 */
  concurrency?: number;
  /** What a previous, interrupted run recorded; null or absent starts fresh. */
  state?: MultipartState | null;
  /** Called (one at a time, in order) once the upload exists and after each part; persist `state` here. Throwing stops the upload without aborting it. */
  onCheckpoint?: (state: MultipartState) => Promise<void>;
}

export async function uploadFileResumable(
  store: S3Store,
  key: string,
  path: string,
  opts: ResumableUploadOptions,
): Promise<{ etag: string; bytes: number }> {
  // A recorded upload keeps the part size it was started with, whatever today's setting.
  const recorded = opts.state?.key === key && opts.state.partSize >= MIN_PART_SIZE ? opts.state : null;
  const partSize = recorded?.partSize ?? Math.max(opts.partSize ?? DEFAULT_PART_SIZE, MIN_PART_SIZE);
  const { size } = await stat(path);
  if (size < partSize) {
    const { etag } = await store.putFile(key, path, opts.meta);
    return { etag, bytes: size };
  }

  const partCount = Math.ceil(size / partSize);
  const expectedSize = (n: number): number => (n < partCount ? partSize : size - (partCount - 1) * partSize);
  const checkpoint = serialised(opts.onCheckpoint);

  let state = recorded ? await verifiedState(store, recorded, expectedSize) : null;
  if (!state && recorded && recorded.parts.length === partCount) {
    // Every part was checkpointed, so the upload may have been completed just
    // before the process died; if the object is exactly those parts, we are done.
    const head = await store.head(key);
    if (head && head.size === size && head.etag === multipartEtag(recorded.parts.map((p) => p.ETag))) return { etag: head.etag, bytes: size };
  }
  if (!state) {
    state = { uploadId: await createUpload(store, key, opts.meta), key, partSize, parts: [] };
    // Record the UploadId before any part, so a crash during part 1 still resumes (and never orphans the upload).
    await checkpoint(state);
  }
  const current = state;

  const done = new Set(current.parts.map((p) => p.PartNumber));
  const todo = Array.from({ length: partCount }, (_, i) => i + 1).filter((n) => !done.has(n));
  const file = await open(path, 'r');
  try {
    await runPool(todo, opts.concurrency ?? 4, async (partNumber) => {
      const length = expectedSize(partNumber);
      const body = Buffer.allocUnsafe(length);
      const { bytesRead } = await file.read(body, 0, length, (partNumber - 1) * partSize);
      if (bytesRead !== length) throw new StorageError(`${path} changed while uploading: short read of part ${partNumber}`);
      const res = await store.client
        .send(new UploadPartCommand({ Bucket: store.bucket, Key: key, UploadId: current.uploadId, PartNumber: partNumber, Body: body, ContentLength: length }))
        .catch((err: unknown) => {
          throw storageError(`UploadPart #${partNumber}`, key, err);
        });
      current.parts.push({ PartNumber: partNumber, ETag: res.ETag ?? '', Size: length });
      current.parts.sort((a, b) => a.PartNumber - b.PartNumber);
      await checkpoint(current);
    });
  } finally {
    await file.close();
  }

  const etag = await completeUpload(store, current);
  return { etag, bytes: size };
}

/** Asks S3 which parts of a recorded upload really exist; null when the upload is gone. */
async function verifiedState(store: S3Store, recorded: MultipartState, expectedSize: (n: number) => number): Promise<MultipartState | null> {
  const parts: MultipartState['parts'] = [];
  let marker: string | undefined;
  try {
    for (;;) {
      const page = await store.client.send(
        new ListPartsCommand({ Bucket: store.bucket, Key: recorded.key, UploadId: recorded.uploadId, PartNumberMarker: marker }),
      );
      for (const p of page.Parts ?? []) {
        // A part of the wrong size (different file, different partSize) cannot be reused; it is simply overwritten.
        if (p.PartNumber !== undefined && p.ETag && p.Size === expectedSize(p.PartNumber)) {
          parts.push({ PartNumber: p.PartNumber, ETag: p.ETag, Size: p.Size });
        }
      }
      if (!page.IsTruncated) break;
      marker = page.NextPartNumberMarker;
    }
  } catch (err) {
    if (errorName(err) === 'NoSuchUpload') return null; // completed, aborted or expired by a lifecycle rule
    throw storageError('ListParts', recorded.key, err);
  }
  return { ...recorded, parts: parts.sort((a, b) => a.PartNumber - b.PartNumber) };
}

async function createUpload(store: S3Store, key: string, meta: ObjectMeta): Promise<string> {
  try {
    const res = await store.client.send(new CreateMultipartUploadCommand({ Bucket: store.bucket, Key: key, ...metaParams(meta) }));
    if (!res.UploadId) throw new Error('no UploadId in the response');
    return res.UploadId;
  } catch (err) {
    throw storageError('CreateMultipartUpload', key, err);
  }
}

async function completeUpload(store: S3Store, state: MultipartState): Promise<string> {
  const parts: Part[] = state.parts.map((p) => ({ PartNumber: p.PartNumber, ETag: p.ETag }));
  try {
    const res = await store.client.send(
      new CompleteMultipartUploadCommand({ Bucket: store.bucket, Key: state.key, UploadId: state.uploadId, MultipartUpload: { Parts: parts } }),
    );
    return res.ETag ?? '';
  } catch (err) {
    // A Complete that succeeded but whose response was lost is retried by the SDK and then
    // answers NoSuchUpload. The object is ours if its ETag is the multipart ETag of our parts.
    if (errorName(err) === 'NoSuchUpload') {
      const head = await store.head(state.key);
      if (head && head.etag === multipartEtag(state.parts.map((p) => p.ETag))) return head.etag;
    }
    throw storageError('CompleteMultipartUpload', state.key, err);
  }
}

/** S3's ETag of a completed multipart object: md5 of the parts' binary md5s, dash, part count. */
export function multipartEtag(partEtags: string[]): string {
  const hash = createHash('md5');
  for (const etag of partEtags) hash.update(Buffer.from(etag.replace(/"/g, ''), 'hex'));
  return `"${hash.digest('hex')}-${partEtags.length}"`;
}

/** Makes concurrent callers take turns, so checkpoints are persisted in the order they were made. */
function serialised(fn: ((state: MultipartState) => Promise<void>) | undefined): (state: MultipartState) => Promise<void> {
  if (!fn) return async () => undefined;
  let tail: Promise<void> = Promise.resolve();
  return (state) => {
    const snapshot: MultipartState = { ...state, parts: state.parts.map((p) => ({ ...p })) };
    const run = tail.then(() => fn(snapshot));
    tail = run.catch(() => undefined);
    return run;
  };
}

export interface StreamUploadOptions {
  meta: ObjectMeta;
  /** More bytes than this aborts the upload with UploadTooLargeError. */
  maxBytes: number;
  /** @defaultValue 16 MiB */
  partSize?: number;
  /** Parts in flight at once. @defaultValue 4 */
  concurrency?: number;
}

/**
 * Streams `body` to `key` with about (concurrency + 1) x partSize of memory.
 * On any failure (too large, empty, S3 down, the client hanging up) the
 * multipart upload is aborted so no partial object or orphaned parts remain.
 */
export async function uploadStream(store: S3Store, key: string, body: Readable, opts: StreamUploadOptions): Promise<{ bytes: number; etag: string }> {
  const guard = new ByteGuard(opts.maxBytes, key);
  let bodyError: Error | null = null;
  body.on('error', (err) => {
    bodyError = err;
    guard.destroy(err);
  });
  body.pipe(guard);
  const upload = new Upload({
    client: store.client,
    params: { Bucket: store.bucket, Key: key, Body: guard, ...metaParams(opts.meta) },
    partSize: Math.max(opts.partSize ?? DEFAULT_PART_SIZE, MIN_PART_SIZE),
    queueSize: opts.concurrency ?? 4,
    leavePartsOnError: false, // lib-storage then aborts the multipart upload before rejecting
  });
  try {
    const res = await upload.done();
    return { bytes: guard.bytes, etag: res.ETag ?? '' };
  } catch (err) {
    body.unpipe(guard);
    guard.destroy();
    // The sender's own failure (a client hanging up) is not an S3 problem; pass it on as it came.
    if (err instanceof HugemapError || (bodyError !== null && err === bodyError)) throw err;
    throw storageError('upload', key, err);
  }
}

/** Counts bytes on their way to S3 and fails the stream on too many or none. */
class ByteGuard extends Transform {
  bytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly what: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) done(new UploadTooLargeError(this.maxBytes));
    else done(null, chunk);
  }

  // Failing before 'end' keeps lib-storage from PUTting an empty object.
  override _flush(done: TransformCallback): void {
    done(this.bytes === 0 ? new EmptyInputError(this.what) : null);
  }
}
