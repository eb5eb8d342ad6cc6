/**
 * Uploads a pyramid's tiles row by row while the tiler is still cutting, so
 * that upload time hides behind tiling time, and so that a killed worker loses
 * at most a couple of rows per level.
 *
 * Rows arrive from the tiler (tiling/tile-rows.ts) in order within each level,
 * levels interleaved. Their tiles go up through a pool of `concurrency` PUTs,
 * rows of smaller levels first (see nextRowIndex).
 * The checkpoint, persisted by the caller (MongoDB), is per level the number of
 * leading rows that are completely in S3. A row may start only while it is
 * fewer than ROW_WINDOW rows past the last PERSISTED count of its level, so
 * after a crash the only rows that can be partly in S3 are the ROW_WINDOW rows
 * after each level's checkpoint: a resumed upload skips the rows before, checks
 * those few rows' tiles with HEAD requests, and PUTs everything after without
 * asking. Nothing is uploaded twice and nothing is missed.
 *
 * The checkpoint names the tiler that cut the rows (`tiler`): tiles cut by a
 * different libvips are not byte-identical, so such a checkpoint is ignored and
 * every tile is uploaded again.
 */
import type { PyramidLevel } from '../tiling/pyramid.js';
import { readCompleteTile, type TileFile, type TileRow, type TileSink } from '../tiling/tile-rows.js';
import { contentTypeFor } from './content-types.js';
import type { S3Store } from './s3-store.js';

/** Tiles are immutable per image id, and so is everything else under images/{id}/. */
export const IMMUTABLE_CACHE_CONTROL = 'public, max-age=31536000, immutable';

/** Rows per level that may be in flight past the persisted checkpoint. Part of the checkpoint's meaning: do not change lightly. */
export const ROW_WINDOW = 2;

export interface TileRowCheckpoint {
  /** What cut the rows counted here (see `tilerId`). */
  tiler: string;
  /** Index = level: rows 0..n-1 of that level are completely in S3. */
  rows: number[];
}

export interface TileRowUploaderOptions {
  /** 'images/{id}/': a tile's key is this plus its `rel` path. */
  keyPrefix: string;
  levels: readonly PyramidLevel[];
  /** What cut the tiles (encoders.ts `tilerId`). */
  tiler: string;
  /** From an earlier attempt, or null. */
  checkpoint: TileRowCheckpoint | null | undefined;
  /** Called with every new checkpoint; the window only moves once it resolves. */
  persist: (cp: TileRowCheckpoint) => Promise<void>;
  /** Tiles known to be in S3 so far (uploaded, found, or skipped by the checkpoint). */
  onProgress?: (tilesInS3: number) => void;
  /** Called after each tile PUT with its size (tiles skipped or found in S3 are not PUT). */
  onUploaded?: (bytes: number) => void;
  /** PUTs in flight: the worker passes WORKER_TILE_PUTS (shared/config.ts has its default and why). */
  concurrency: number;
}

export interface TileRowUploadStats {
  /** Tiles PUT by this uploader. */
  uploaded: number;
  /** Tiles not PUT: covered by the checkpoint or found in S3 by a HEAD. */
  skipped: number;
  /** HEAD requests made (only for rows just past a checkpoint). */
  checked: number;
  bytes: number;
}

interface ActiveRow {
  row: TileRow;
  next: number;
  remaining: number;
  verify: boolean;
}

export class TileRowUploader implements TileSink {
  readonly stats: TileRowUploadStats = { uploaded: 0, skipped: 0, checked: 0, bytes: 0 };
  private readonly concurrency: number;
  /** Rows at the start of this attempt (trusted checkpoint), per level. */
  private readonly resumedFrom: number[];
  private readonly resuming: boolean;
  private readonly done: number[];
  private persisted: number[];
  private readonly finishedAhead: Array<Set<number>>;
  private readonly pending: TileRow[] = [];
  private readonly active: ActiveRow[] = [];
  private inFlight = 0;
  private persisting = false;
  private dirty = false;
  private failure: { err: unknown } | null = null;
  private waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];

  constructor(private readonly store: S3Store, private readonly opts: TileRowUploaderOptions) {
    this.concurrency = opts.concurrency;
    const cp = opts.checkpoint;
    const trusted = cp != null && cp.tiler === opts.tiler && cp.rows.length === opts.levels.length &&
      cp.rows.every((n, i) => Number.isInteger(n) && n >= 0 && n <= opts.levels[i]!.rows);
    this.resuming = trusted;
    this.resumedFrom = trusted ? [...cp.rows] : opts.levels.map(() => 0);
    this.done = [...this.resumedFrom];
    this.finishedAhead = opts.levels.map(() => new Set<number>());
    if (trusted) {
      this.persisted = [...this.resumedFrom];
    } else {
      // Nothing may start before a checkpoint of this tiler exists: a crash from here on leaves one,
      // and the next attempt then knows which rows to check instead of uploading them again.
      this.persisted = opts.levels.map(() => -ROW_WINDOW);
      this.requestPersist();
    }
  }

  /** The checkpoint as it stands (rows completely in S3), e.g. to persist before any row. */
  checkpoint(): TileRowCheckpoint {
    return { tiler: this.opts.tiler, rows: [...this.done] };
  }

  private tilesInS3(): number {
    return this.stats.uploaded + this.stats.skipped;
  }

  row(row: TileRow): void {
    if (this.failure) return;
    if (row.row < this.resumedFrom[row.level]!) {
      this.stats.skipped += row.files.length; // in S3 before this attempt began
      this.opts.onProgress?.(this.tilesInS3());
      return;
    }
    this.pending.push(row);
    this.pump();
  }

  drain(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.settle();
    });
  }

  private pump(): void {
    while (!this.failure && this.inFlight < this.concurrency) {
      const task = this.nextTile();
      if (!task) break;
      this.inFlight++;
      this.putTile(task.file, task.verify).then(
        () => {
          this.inFlight--;
          this.opts.onProgress?.(this.tilesInS3());
          if (--task.active.remaining === 0) this.rowDone(task.active.row);
          this.pump();
          this.settle();
        },
        (err: unknown) => {
          this.inFlight--;
          this.fail(err);
        },
      );
    }
  }

  private nextTile(): { file: TileFile; verify: boolean; active: ActiveRow } | null {
    let active = this.active.find((a) => a.next < a.row.files.length);
    if (!active) {
      const i = this.nextRowIndex();
      if (i < 0) return null;
      const row = this.pending.splice(i, 1)[0]!;
      const from = this.resumedFrom[row.level]!;
      // Only the rows just past a checkpoint can be partly in S3 already.
      active = { row, next: 0, remaining: row.files.length, verify: this.resuming && row.row < from + ROW_WINDOW };
      this.active.push(active);
      if (row.files.length === 0) {
        this.active.pop();
        this.rowDone(row);
        return this.nextTile();
      }
    }
    const file = active.row.files[active.next++]!;
    return { file, verify: active.verify, active };
  }

  /**
   * The pending row to start next: of those inside their level's window, the
   * one of the lowest level (earliest arrival among equals). dzsave finishes
   * the small levels only at the very end, when the full-size rows are queued
   * up behind them; going first, the few tiles a viewer needs for a first,
   * whole picture are in S3 shortly after the cut ends instead of after the
   * whole backlog. The total work is the same.
   */
  private nextRowIndex(): number {
    let best = -1;
    for (let i = 0; i < this.pending.length; i++) {
      const r = this.pending[i]!;
      if (r.row >= this.persisted[r.level]! + ROW_WINDOW) continue;
      if (best < 0 || r.level < this.pending[best]!.level) best = i;
    }
    return best;
  }

  private rowDone(row: TileRow): void {
    const i = this.active.findIndex((a) => a.row === row);
    if (i >= 0) this.active.splice(i, 1);
    const ahead = this.finishedAhead[row.level]!;
    ahead.add(row.row);
    let advanced = false;
    while (ahead.delete(this.done[row.level]!)) {
      this.done[row.level]!++;
      advanced = true;
    }
    if (advanced) this.requestPersist();
  }

  private requestPersist(): void {
    this.dirty = true;
    if (this.persisting) return;
    this.persisting = true;
    void (async () => {
      while (this.dirty && !this.failure) {
        this.dirty = false;
        const snapshot = this.checkpoint();
        try {
          await this.opts.persist(snapshot);
          this.persisted = snapshot.rows;
          this.pump(); // the window has moved: use it while the next checkpoint is written
        } catch (err) {
          this.fail(err);
        }
      }
      this.persisting = false;
      this.pump(); // the window may have moved
      this.settle();
    })();
  }

  private async putTile(file: TileFile, verify: boolean): Promise<void> {
    const data = await readCompleteTile(file);
    const key = this.opts.keyPrefix + file.rel;
    if (verify) {
      this.stats.checked++;
      const head = await this.store.head(key);
      if (head && head.size === data.length) {
        this.stats.skipped++;
        return;
      }
    }
    await this.store.putSmallObject(key, data, { contentType: contentTypeFor(file.rel), cacheControl: IMMUTABLE_CACHE_CONTROL });
    this.stats.uploaded++;
    this.stats.bytes += data.length;
    this.opts.onUploaded?.(data.length);
  }

  private fail(err: unknown): void {
    this.failure ??= { err };
    this.settle();
  }

  private settle(): void {
    if (this.waiters.length === 0) return;
    if (this.failure) {
      if (this.inFlight > 0 || this.persisting) return; // report once nothing is running any more
      for (const w of this.waiters.splice(0)) w.reject(this.failure.err);
      return;
    }
    const idle = this.pending.length === 0 && this.active.length === 0 && this.inFlight === 0 && !this.persisting && !this.dirty;
    if (idle) for (const w of this.waiters.splice(0)) w.resolve();
  }
}
