/**
 * sharp's tile() reports no progress, so we count the tile files appearing on
 * disk against the pyramid's known tile count. A few readdir calls per second
 * on level folders is cheap next to encoding tiles.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { PyramidLevel } from './pyramid.js';

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

export async function countTiles(tilesDir: string, levels: PyramidLevel[]): Promise<{ tilesDone: number; levelsDone: number }> {
  let tilesDone = 0;
  let levelsDone = 0;
  for (const level of levels) {
    let files = 0;
    try {
      files = (await readdir(join(tilesDir, String(level.level)))).length;
    } catch {
      // Level folder not created yet.
    }
    const expected = level.cols * level.rows;
    tilesDone += Math.min(files, expected);
    if (files >= expected) levelsDone++;
  }
  return { tilesDone, levelsDone };
}

/**
 * Polls every `intervalMs` until stopped; returns the stop function. Never throws into the tiler.
 * Each poll lists the level folders, the largest holding every tile of the full-size level
 * (150,000 names at 10 GP): a reader that shows a line every few seconds should poll as rarely.
 */
export function watchTiles(
  tilesDir: string,
  levels: PyramidLevel[],
  tilesTotal: number,
  report: (p: TileProgress) => void,
  intervalMs = PROGRESS_INTERVAL_MS,
): () => void {
  const top = levels.at(-1);
  const pixels = top ? top.width * top.height : 0;
  let stopped = false;
  let busy = false;
  const timer = setInterval(() => {
    if (busy || stopped) return;
    busy = true;
    countTiles(tilesDir, levels)
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
