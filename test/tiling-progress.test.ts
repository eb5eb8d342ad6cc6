/**
 * TileCounter (shared/tiling/progress.ts): the finished tiles of a pyramid being written, found by
 * name (dzsave finishes a row of a level before it starts the next), never by listing a folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TileCounter } from '../shared/tiling/progress.js';
import { deepZoomLevels, tileCount } from '../shared/tiling/pyramid.js';

const scratch = await mkdtemp(join(tmpdir(), 'hugemap-progress-test-'));
test.after(() => rm(scratch, { recursive: true, force: true }));

test('rows count once the next row has started, a level once its last tile is there', async () => {
  const levels = deepZoomLevels(600, 300); // full size: 3 x 2 tiles
  const full = levels.at(-1)!;
  assert.deepEqual([full.cols, full.rows], [3, 2]);
  const tilesDir = join(scratch, 'image_files');
  for (const level of levels) await mkdir(join(tilesDir, String(level.level)), { recursive: true });
  const put = (level: number, col: number, row: number) => writeFile(join(tilesDir, String(level), `${col}_${row}.jpeg`), 'x');
  const counter = new TileCounter(tilesDir, levels, 'jpeg');

  assert.deepEqual(await counter.count(), { tilesDone: 0, levelsDone: 0 });
  for (const col of [0, 1, 2]) await put(full.level, col, 0);
  assert.deepEqual(await counter.count(), { tilesDone: 0, levelsDone: 0 }, 'row 0 may still be written: row 1 has not started');
  await put(full.level, 0, 1);
  assert.deepEqual(await counter.count(), { tilesDone: 3, levelsDone: 0 }, 'row 0 finished, the last row not yet');
  await put(full.level, 1, 1);
  await put(full.level, 2, 1);
  assert.deepEqual(await counter.count(), { tilesDone: 6, levelsDone: 1 });
  await writeFile(join(tilesDir, String(full.level), '0_0.png'), 'another format');
  for (const level of levels.slice(0, -1)) {
    for (let row = 0; row < level.rows; row++) for (let col = 0; col < level.cols; col++) await put(level.level, col, row);
  }
  assert.deepEqual(await counter.count(), { tilesDone: tileCount(levels), levelsDone: levels.length });
});
