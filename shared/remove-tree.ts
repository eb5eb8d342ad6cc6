/**
 * removeTree: `rm -rf` in bounded memory, for the tile folders a cut leaves (tens of thousands of
 * files). Node's own `fs.rm(path, { recursive: true })` reads each folder whole and starts every
 * unlink at once: removing the 19,255 files of a 944 MP cut took a process from 40 to 110 MB of
 * peak RSS (52 MB of V8 heap), and `hugemap tile` replacing that cut's previous result peaked at
 * 323-327 MB instead of 275-285 (docs/memory.md). Here a folder is read a batch of names at a
 * time and a few unlinks run at once: the memory of one batch, whatever the tree's size.
 */
import { lstat, opendir, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Names read from a folder before they are removed. */
const BATCH = 256;
/** Unlinks in flight at once (the thread pool has 4 threads; more only queue). */
const PARALLEL = 8;

export interface RemoveTreeOptions {
  /**
   * Times to read a folder again when it is not empty after its batches (something still writes
   * into it: libvips after an abort) before giving up with ENOTEMPTY. @defaultValue 0
   */
  retries?: number;
  /** Milliseconds between those reads. @defaultValue 50 */
  retryDelayMs?: number;
}

const isCode = (err: unknown, ...codes: string[]): boolean => codes.includes((err as NodeJS.ErrnoException).code ?? '');

/** Removes `path` (a file, a symbolic link or a folder with everything in it); a missing path is not an error. */
export async function removeTree(path: string, opts: RemoveTreeOptions = {}): Promise<void> {
  let stats;
  try {
    stats = await lstat(path);
  } catch (err) {
    if (isCode(err, 'ENOENT')) return;
    throw err;
  }
  // lstat: a link to a folder is removed as a link, its target left alone.
  if (!stats.isDirectory()) return unlinkIfThere(path);
  await emptyFolder(path, opts);
  for (let attempt = 0; ; attempt++) {
    try {
      await rmdir(path);
      return;
    } catch (err) {
      if (isCode(err, 'ENOENT')) return;
      if (!isCode(err, 'ENOTEMPTY', 'EEXIST') || attempt >= (opts.retries ?? 0)) throw err;
      await new Promise((resolve) => setTimeout(resolve, opts.retryDelayMs ?? 50));
      await emptyFolder(path, opts);
    }
  }
}

/**
 * Removes what `folder` holds, a batch at a time. Each batch is read from a fresh handle after the
 * previous one is gone: no name is skipped or read twice while the folder changes under a reader.
 */
async function emptyFolder(folder: string, opts: RemoveTreeOptions): Promise<void> {
  for (;;) {
    const batch = await readBatch(folder);
    if (batch.length === 0) return;
    for (let i = 0; i < batch.length; i += PARALLEL) {
      await Promise.all(batch.slice(i, i + PARALLEL).map(({ name, folder: isFolder }) => {
        const path = join(folder, name);
        return isFolder ? removeTree(path, opts) : unlinkIfThere(path);
      }));
    }
  }
}

async function unlinkIfThere(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (!isCode(err, 'ENOENT')) throw err;
  }
}

async function readBatch(folder: string): Promise<{ name: string; folder: boolean }[]> {
  const batch: { name: string; folder: boolean }[] = [];
  let dir;
  try {
    dir = await opendir(folder, { bufferSize: 64 });
  } catch (err) {
    if (isCode(err, 'ENOENT')) return batch;
    throw err;
  }
  try {
    for (let entry = await dir.read(); entry !== null && batch.length < BATCH; entry = await dir.read()) {
      batch.push({ name: entry.name, folder: entry.isDirectory() });
    }
  } finally {
    await dir.close();
  }
  return batch;
}
