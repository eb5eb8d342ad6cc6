/**
 * Uploads a finished Deep Zoom folder (`image.dzi`, `image_files/{level}/{col}_{row}.jpeg`,
 * `thumbnail.jpg`, `manifest.json`) so that a killed worker loses at most one batch.
 *
 * Files go up in one deterministic order, in batches; after each batch the
 * caller persists `{ uploaded }` (the count of files done in that order). On
 * resume the first `uploaded` files are skipped without asking S3, and only the
 * batch that was in flight when the process died is checked with HEADs, since
 * batches never overlap, it is the only one that can be partly in S3.
 *
 * The descriptor goes up last, alone, after everything else: viewers and the
 * API treat "descriptor exists" as "pyramid complete".
 */
import { readdir, stat } from 'node:fs/promises';
import { join, posix, relative, sep } from 'node:path';
import { contentTypeFor } from './content-types.js';
import { runPool } from './run-pool.js';
import type { S3Store } from './s3-store.js';

/** Tiles are immutable per image id, and so is everything else under images/{id}/. */
export const IMMUTABLE_CACHE_CONTROL = 'public, max-age=31536000, immutable';

export interface TileUploadCheckpoint {
  /** Files done, counted in the order `orderPyramidFiles` gives. */
  uploaded: number;
}

export interface TileUploadOptions {
  checkpoint: TileUploadCheckpoint | null;
  /** Files per checkpoint: the most work a crash can cost. @defaultValue 64 */
  batchSize?: number;
  /** PUTs in flight at once. @defaultValue 8 */
  concurrency?: number;
  /** Persist `cp` here (MongoDB); the next batch starts only after it resolves. */
  onBatch: (cp: TileUploadCheckpoint, totalFiles: number) => Promise<void>;
  /** @defaultValue 'image.dzi' */
  descriptorLast?: string;
}

export interface TileUploadResult {
  /** Files PUT by this call. */
  uploaded: number;
  /** Files not PUT because the checkpoint or S3 showed them done. */
  skipped: number;
  total: number;
  /** Bytes PUT by this call. */
  bytes: number;
}

interface LocalFile {
  rel: string; // posix-style path relative to the folder, also the key suffix
  abs: string;
  size: number;
}

export async function uploadTileFolder(store: S3Store, localDir: string, keyPrefix: string, opts: TileUploadOptions): Promise<TileUploadResult> {
  const descriptor = opts.descriptorLast ?? 'image.dzi';
  const files = orderPyramidFiles(await listFiles(localDir), descriptor);
  const total = files.length;
  const prefix = keyPrefix === '' || keyPrefix.endsWith('/') ? keyPrefix : `${keyPrefix}/`;
  const concurrency = opts.concurrency ?? 8;

  // A checkpoint beyond the end means the folder is not the one it was made for:
  // trust nothing and check every batch against S3 instead.
  const recorded = opts.checkpoint?.uploaded ?? 0;
  const consistent = recorded >= 0 && recorded <= total;
  let done = consistent ? recorded : 0;
  let skipped = done;
  let uploaded = 0;
  let bytes = 0;

  for (const batch of batchesFrom(files, done, opts.batchSize ?? 64, descriptor)) {
    const mayBeInS3 = !consistent || done === recorded; // only the batch in flight at the crash
    const missing = mayBeInS3 ? await notYetInS3(store, prefix, batch, concurrency) : batch;
    skipped += batch.length - missing.length;
    await runPool(missing, concurrency, async (file) => {
      await store.putFile(prefix + file.rel, file.abs, { contentType: contentTypeFor(file.rel), cacheControl: IMMUTABLE_CACHE_CONTROL });
      uploaded += 1;
      bytes += file.size;
    });
    done += batch.length;
    await opts.onBatch({ uploaded: done }, total);
  }
  return { uploaded, skipped, total, bytes };
}

/**
 * Tiles by level (numerically, so level 10 follows level 9), then every other
 * file by name, then the descriptor. Any other order would make checkpoints
 * from one run meaningless in the next.
 */
export function orderPyramidFiles<T extends { rel: string }>(files: readonly T[], descriptor: string): T[] {
  const rank = (f: T): [number, number, string] => {
    if (f.rel === descriptor) return [2, 0, f.rel];
    const level = /^[^/]+_files\/(\d+)\//.exec(f.rel)?.[1];
    return level === undefined ? [1, 0, f.rel] : [0, Number(level), f.rel];
  };
  const keyed = files.map((f) => ({ f, k: rank(f) }));
  keyed.sort((a, b) => a.k[0] - b.k[0] || a.k[1] - b.k[1] || compareStrings(a.k[2], b.k[2]));
  return keyed.map(({ f }) => f);
}

/** Fixed-size batches from `start`; the descriptor, which sorts last, always travels alone. */
function* batchesFrom(files: readonly LocalFile[], start: number, batchSize: number, descriptor: string): Generator<LocalFile[]> {
  const size = Math.max(1, batchSize);
  const last = files[files.length - 1];
  const bodyEnd = last?.rel === descriptor ? files.length - 1 : files.length;
  let i = start;
  while (i < bodyEnd) {
    // Batch boundaries are counted from 0, not from `start`, so a resumed run
    // checkpoints at the same places as an uninterrupted one.
    const end = Math.min(bodyEnd, (Math.floor(i / size) + 1) * size);
    yield files.slice(i, end);
    i = end;
  }
  if (i < files.length) yield files.slice(i);
}

/** The files of `batch` that S3 does not already hold with the same size. */
async function notYetInS3(store: S3Store, prefix: string, batch: LocalFile[], concurrency: number): Promise<LocalFile[]> {
  const present = new Set<LocalFile>();
  await runPool(batch, concurrency, async (file) => {
    const head = await store.head(prefix + file.rel);
    if (head && head.size === file.size) present.add(file);
  });
  return batch.filter((f) => !present.has(f));
}

async function listFiles(root: string): Promise<LocalFile[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const files: LocalFile[] = [];
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const abs = join(entry.parentPath, entry.name);
    files.push({ rel: relative(root, abs).split(sep).join(posix.sep), abs, size: (await stat(abs)).size });
  }
  return files;
}

// Code-point order, independent of the process locale.
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
