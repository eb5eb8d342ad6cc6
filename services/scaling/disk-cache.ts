/**
 * Scaled images on local disk, capped in bytes, least recently used evicted.
 * Files are written to `tmp/` and renamed into place, so a reader never sees
 * half a file and a crash leaves only temp files (removed at start). The LRU
 * order lives in memory (lru-cache) and is rebuilt from the folder at start,
 * oldest access time first. Concurrent misses for one key render once.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, unlink, utimes, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { LRUCache } from 'lru-cache';

export interface CacheEntry {
  file: string;
  size: number;
  mtimeMs: number;
  /** Weak validator: size and write time. */
  etag: string;
}

export interface CacheLookup extends CacheEntry {
  hit: boolean;
}

export class DiskCache {
  private readonly index: LRUCache<string, CacheEntry>;
  private readonly pending = new Map<string, Promise<CacheEntry>>();
  private ready: Promise<void> | null = null;
  /** Renders done (cache misses that produced a file); tests and metrics read it. */
  renders = 0;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {
    this.index = new LRUCache<string, CacheEntry>({
      maxSize: maxBytes,
      sizeCalculation: (entry) => Math.max(1, entry.size),
      // Evicted or purged: the file goes too (deletion while a reader streams it is fine on POSIX).
      // Replaced ('set'): the new file was renamed over the old one at the same path, so keep it.
      dispose: (entry, _key, reason) => {
        if (reason !== 'set') void unlink(entry.file).catch(() => undefined);
      },
    });
  }

  /** Bytes currently held. */
  get size(): number {
    return this.index.calculatedSize;
  }

  has(key: string): boolean {
    return this.index.has(key);
  }

  /** Serves `key` from disk, or renders, stores and serves it. */
  async get(key: string, render: () => Promise<Buffer>): Promise<CacheLookup> {
    await this.init();
    const found = this.index.get(key);
    if (found) {
      // Access time on disk keeps the LRU order across restarts (noatime mounts would lose it).
      void utimes(found.file, new Date(), new Date(found.mtimeMs)).catch(() => undefined);
      return { ...found, hit: true };
    }
    let job = this.pending.get(key);
    if (!job) {
      job = this.store(key, render).finally(() => this.pending.delete(key));
      this.pending.set(key, job);
    }
    return { ...(await job), hit: false };
  }

  /** Drops one entry (its file vanished under us, say). */
  forget(key: string): void {
    this.index.delete(key);
  }

  /**
   * get(), then the file opened for reading. A file evicted between the lookup and the open is
   * looked up again (it renders anew) rather than failing the request. The caller closes the handle.
   */
  async open(key: string, render: () => Promise<Buffer>): Promise<{ entry: CacheLookup; handle: FileHandle }> {
    for (let attempt = 0; ; attempt++) {
      const entry = await this.get(key, render);
      try {
        return { entry, handle: await open(entry.file, 'r') };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 2) throw err;
        this.forget(key);
      }
    }
  }

  /** Drops every file of keys starting with `prefix` (an image deleted). */
  purge(prefix: string): void {
    for (const key of [...this.index.keys()]) if (key.startsWith(prefix)) this.index.delete(key);
  }

  private async store(key: string, render: () => Promise<Buffer>): Promise<CacheEntry> {
    const data = await render();
    this.renders++;
    const file = this.fileFor(key);
    const tmp = path.join(this.dir, 'tmp', randomBytes(8).toString('hex'));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(tmp, data);
    await rename(tmp, file);
    const entry = await this.entryFor(file);
    // Larger than the whole cache: served once, not kept.
    if (entry.size > this.maxBytes) {
      await unlink(file).catch(() => undefined);
      return { ...entry, file: await this.spill(data) };
    }
    this.index.set(key, entry);
    return entry;
  }

  /** A one-off file for an entry too large to keep; removed a minute later. */
  private async spill(data: Buffer): Promise<string> {
    const file = path.join(this.dir, 'tmp', `big-${randomBytes(8).toString('hex')}`);
    await writeFile(file, data);
    setTimeout(() => void unlink(file).catch(() => undefined), 60_000).unref();
    return file;
  }

  private fileFor(key: string): string {
    // Keys are built from validated ids and specs; encodeURIComponent keeps `!` and the like harmless anyway.
    return path.join(this.dir, 'files', ...key.split('/').map(encodeURIComponent));
  }

  private async entryFor(file: string): Promise<CacheEntry> {
    const s = await stat(file);
    return { file, size: s.size, mtimeMs: s.mtimeMs, etag: `W/"${s.size.toString(36)}-${Math.floor(s.mtimeMs).toString(36)}"` };
  }

  private init(): Promise<void> {
    return (this.ready ??= this.rebuild());
  }

  private async rebuild(): Promise<void> {
    await rm(path.join(this.dir, 'tmp'), { recursive: true, force: true });
    await mkdir(path.join(this.dir, 'tmp'), { recursive: true });
    const root = path.join(this.dir, 'files');
    await mkdir(root, { recursive: true });
    const found: Array<{ key: string; entry: CacheEntry; atime: number }> = [];
    for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const file = path.join(entry.parentPath, entry.name);
      const s = await stat(file);
      const key = path.relative(root, file).split(path.sep).map(decodeURIComponent).join('/');
      found.push({ key, entry: await this.entryFor(file), atime: s.atimeMs });
    }
    // Oldest first, so the most recently used end up most recent in the index.
    found.sort((a, b) => a.atime - b.atime);
    for (const { key, entry } of found) this.index.set(key, entry);
  }
}
