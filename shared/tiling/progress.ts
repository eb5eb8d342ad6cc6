/**
 * sharp's tile() and dzsave report no progress, so we watch the tile files appear on disk against
 * the pyramid's known tile count: by name, a stat or two per level and poll (dzsave finishes a
 * row of tiles of a level before it starts the next, tile-rows.ts). Not by listing the level
 * folders: the full-size level of a 10 GP image holds 150,000 names, and listing it every poll
 * (4 times a second for the CLI's bar) kept V8 busy and the peak RSS higher (docs/memory.md).
 */
import { join } from 'node:path';
import type { PyramidLevel } from './pyramid.js';
import { exists, rowsStarted } from './tile-rows.js';

export interface TileProgress {
  stage: 'probe' | 'prepare' | 'tile' | 'thumbnail' | 'finish';
  tilesDone: number;
  tilesTotal: number;
  levelsDone: number;
  levels: number;
  /** The image's width x height, so a reader can turn the tile fraction into a pixel rate. */
  pixels: number;
}

/** How often the tile files are counted by default. */
export const PROGRESS_INTERVAL_MS = 250;

/** Counts the finished tiles of a pyramid being written, remembering how far it got (each call starts there). */
export class TileCounter {
  /** Per level: rows whose first tile exists. */
  private readonly started: number[];
  private readonly complete: boolean[];

  constructor(private readonly tilesDir: string, private readonly levels: readonly PyramidLevel[], private readonly ext: string) {
    this.started = levels.map(() => 0);
    this.complete = levels.map(() => false);
  }

  async count(): Promise<{ tilesDone: number; levelsDone: number }> {
    let tilesDone = 0;
    let levelsDone = 0;
    for (const [i, level] of this.levels.entries()) {
      this.started[i] = await rowsStarted(this.tilesDir, level, this.ext, this.started[i]!);
      // A row is finished once the next has started; the last one once its last tile is there.
      const lastTile = join(this.tilesDir, String(level.level), `${level.cols - 1}_${level.rows - 1}.${this.ext}`);
      if (!this.complete[i] && this.started[i] === level.rows) this.complete[i] = await exists(lastTile);
      tilesDone += (this.complete[i] ? level.rows : Math.max(0, this.started[i]! - 1)) * level.cols;
      if (this.complete[i]) levelsDone++;
    }
    return { tilesDone, levelsDone };
  }
}

/**
 * Polls every `intervalMs` until stopped; returns the stop function. Never throws into the tiler.
 */
export function watchTiles(
  tilesDir: string,
  levels: PyramidLevel[],
  ext: string,
  tilesTotal: number,
  report: (p: TileProgress) => void,
  intervalMs = PROGRESS_INTERVAL_MS,
): () => void {
  const top = levels.at(-1);
  const pixels = top ? top.width * top.height : 0;
  const counter = new TileCounter(tilesDir, levels, ext);
  let stopped = false;
  let busy = false;
  const timer = setInterval(() => {
    if (busy || stopped) return;
    busy = true;
    counter
      .count()
      .then((c) => {
        if (!stopped) report({ stage: 'tile', tilesTotal, levels: levels.length, pixels, ...c });
      })
      .catch(() => undefined)
      .finally(() => {
        busy = false;
      });
  }, intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
