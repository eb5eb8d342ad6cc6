/**
 * Finished rows of tiles, handed over while dzsave is still cutting, so the
 * worker can upload a row while later rows are being encoded.
 *
 * dzsave reports nothing per tile. It writes a level as strips, one row of
 * tiles at a time, and finishes every tile of a strip before it starts the
 * next strip of that level; so once the first tile of row r+1 exists, every
 * tile of row r is complete on disk. The watcher polls for exactly that one
 * file per level (a stat, not a directory listing: the top level of a
 * gigapixel image holds 14,000 files). The last row of each level is handed
 * over by `flush()` after dzsave has returned.
 *
 * Consumers still check each tile's end marker (`endsComplete`) when they read
 * it: a cheap guard should a libvips version ever write strips differently.
 */
import { readFileSync } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { extname, join, posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HugemapError } from '../errors.js';
import type { PyramidLevel } from './pyramid.js';

export interface TileFile {
  /** Path relative to the output folder, '/'-separated: `image_files/{level}/{col}_{row}.{ext}` (also the S3 key suffix). */
  rel: string;
  abs: string;
}

export interface TileRow {
  level: number;
  row: number;
  /** Ordered by column. */
  files: TileFile[];
}

/** Receives finished rows while tiling runs; see tileImage's `sink` option. */
export interface TileSink {
  /** A finished row. Its files stay at these paths until `drain()` resolves. */
  row(row: TileRow): void;
  /** Resolves once every row handed over is consumed; rejects with the sink's failure. */
  drain(): Promise<void>;
}

export const ROW_POLL_MS = 100;

export interface RowWatcher {
  /** Call after dzsave returned: hands over every row not yet handed over. */
  flush(): Promise<void>;
  /** Stops polling without handing anything more over (the tiler failed). */
  stop(): void;
}

/** The files of one row of a level, by name: `{relBase}/{level}/{col}_{row}.{ext}` under `tilesDir`. */
export function rowFiles(tilesDir: string, relBase: string, level: PyramidLevel, row: number, ext: string): TileFile[] {
  const files: TileFile[] = [];
  for (let col = 0; col < level.cols; col++) {
    const name = `${col}_${row}.${ext}`;
    files.push({ rel: posix.join(relBase, String(level.level), name), abs: join(tilesDir, String(level.level), name) });
  }
  return files;
}

/** Every row of a finished pyramid, level by level, top row first: for resuming from a complete folder. */
export function* allRows(tilesDir: string, relBase: string, levels: readonly PyramidLevel[], ext: string): Generator<TileRow> {
  for (const level of levels) {
    for (let row = 0; row < level.rows; row++) yield { level: level.level, row, files: rowFiles(tilesDir, relBase, level, row, ext) };
  }
}

/**
 * Polls `tilesDir` (the `image_files` folder dzsave writes) and calls `onRow`
 * for each finished row, rows of a level in order. `relBase` prefixes `rel`
 * (e.g. 'image_files'); `ext` is the tile file extension.
 */
export function watchTileRows(tilesDir: string, relBase: string, levels: readonly PyramidLevel[], ext: string, onRow: (row: TileRow) => void): RowWatcher {
  const nextRow = new Map<number, number>(levels.map((l) => [l.level, 0]));
  let stopped = false;
  let scanning: Promise<void> = Promise.resolve();

  const handOver = (level: PyramidLevel, until: number): void => {
    for (let row = nextRow.get(level.level) ?? 0; row < until && !stopped; row++) {
      onRow({ level: level.level, row, files: rowFiles(tilesDir, relBase, level, row, ext) });
      nextRow.set(level.level, row + 1);
    }
  };
  const scan = async (): Promise<void> => {
    for (const level of levels) {
      // Row r is finished once row r+1 has started. Rows up to the next to hand over are taken as
      // started: that is only ever used to hand over the rows before it.
      const started = await rowsStarted(tilesDir, level, ext, (nextRow.get(level.level) ?? 0) + 1);
      handOver(level, started - 1);
    }
  };
  const poll = (): void => {
    scanning = scanning.then(() => (stopped ? undefined : scan())).catch(() => undefined); // the next poll tries again
  };

  const timer = setInterval(poll, ROW_POLL_MS);
  timer.unref();
  return {
    async flush() {
      clearInterval(timer);
      await scanning;
      for (const level of levels) handOver(level, level.rows);
    },
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/**
 * How many rows of `level` dzsave has started (their first tile is there), looking on from the
 * `known` rows already seen started: a stat per row, never a listing of the level's folder. Every
 * row before the last one started is finished (see the top of this file).
 */
export async function rowsStarted(tilesDir: string, level: PyramidLevel, ext: string, known: number): Promise<number> {
  let started = Math.min(known, level.rows);
  while (started < level.rows && (await exists(join(tilesDir, String(level.level), `0_${started}.${ext}`)))) started++;
  return started;
}

/** Whether a file is there (dzsave has started writing it). */
export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

const PNG_IEND = Buffer.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);

/** Whether `data` holds a whole encoded tile, judged from its last (and for WebP first) bytes. */
export function endsComplete(data: Uint8Array, ext: string): boolean {
  const n = data.length;
  if (n < 12) return false;
  if (ext === 'jpeg') return data[n - 2] === 0xff && data[n - 1] === 0xd9;
  if (ext === 'png') return Buffer.from(data.buffer, data.byteOffset + n - 12, 12).equals(PNG_IEND);
  const head = Buffer.from(data.buffer, data.byteOffset, 12);
  return head.toString('latin1', 0, 4) === 'RIFF' && head.readUInt32LE(4) + 8 === n;
}

/** Attempts at reading a tile that does not end like a whole file yet (see the comment at the top). */
const INCOMPLETE_RETRIES = 20;

/**
 * A finished tile's bytes; waits briefly if the file does not end like a whole one yet.
 * The first read is synchronous: the tile was just written, so it comes from the page
 * cache, and for a few KB the promise API's per-call overhead (a file handle, four
 * thread-pool round trips) costs more than the read itself, thousands of times an image.
 */
export async function readCompleteTile(file: TileFile): Promise<Buffer> {
  const ext = extname(file.rel).slice(1);
  let data: Buffer = readFileSync(file.abs);
  for (let attempt = 0; !endsComplete(data, ext); attempt++) {
    if (attempt === INCOMPLETE_RETRIES) {
      throw new HugemapError('HUGEMAP_ERR_INTERNAL', `tile ${file.rel} is still incomplete (${data.length} bytes) after its row was reported finished`);
    }
    await sleep(50);
    data = await readFile(file.abs);
  }
  return data;
}
