/**
 * Rows of tiles handed over while dzsave still cuts (tile-rows.ts, tileImage's
 * `sink`): every row once, in order within its level, each file already
 * complete when its row is handed over, and nothing published before the sink
 * has drained.
 */
import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { deepZoomLevels, tileImage } from '../shared/tiling/index.js';
import { allRows, endsComplete, type TileRow, type TileSink } from '../shared/tiling/tile-rows.js';
import { tempDir } from './helpers/fixtures.js';

const tmp = await tempDir('hugemap-rows-');
after(() => tmp.remove());

/** Noise compresses badly, so dzsave takes long enough on the top level for rows to be seen while it runs. */
async function noisyJpeg(path: string, width: number, height: number): Promise<void> {
  await sharp({ create: { width, height, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 60 } } })
    .jpeg({ quality: 95 })
    .toFile(path);
}

test('tileImage hands every row over once, in order per level, each tile already whole; it publishes only after drain()', async () => {
  const input = tmp.file('rows.jpg');
  const [width, height] = [4000, 2600];
  await noisyJpeg(input, width, height);
  const out = tmp.file('rows-out');
  const levels = deepZoomLevels(width, height);

  const rows: TileRow[] = [];
  const readAtHandOver = new Map<string, Promise<Buffer>>();
  let drains = 0;
  // Recorded, asserted after: tile-rows.ts swallows what the sink throws (the next poll tries again).
  const rowsAfterDrain: string[] = [];
  let publishedWhenDraining: boolean | undefined;
  const sink: TileSink = {
    row(row) {
      if (drains > 0) rowsAfterDrain.push(`${row.level}/${row.row}`);
      rows.push(row);
      // Read as a consumer would, the moment the row is handed over.
      for (const f of row.files) readAtHandOver.set(f.rel, readFile(f.abs));
    },
    async drain() {
      drains++;
      // That nothing is published until drain() RESOLVES is the next test's (a drain that rejects leaves no descriptor).
      publishedWhenDraining = await access(join(out, 'image.dzi')).then(() => true, () => false);
    },
  };
  const manifest = await tileImage(input, out, { sink, concurrency: 2 });

  assert.equal(drains, 1, 'drain() once');
  assert.deepEqual(rowsAfterDrain, [], 'no row after drain()');
  assert.equal(publishedWhenDraining, false, 'image.dzi must not exist while the sink drains');
  await access(join(out, 'image.dzi'));
  const expected = [...allRows(join(out, 'image_files'), 'image_files', levels, 'jpeg')];
  assert.equal(rows.length, expected.length, 'one hand-over per row');
  assert.deepEqual(rows.map((r) => `${r.level}/${r.row}`).sort(), expected.map((r) => `${r.level}/${r.row}`).sort());
  for (const level of levels) {
    const order = rows.filter((r) => r.level === level.level).map((r) => r.row);
    assert.deepEqual(order, [...order].sort((a, b) => a - b), `level ${level.level} rows in order`);
  }
  // Rows were handed over during the cut, not all at the end: the top level's first row came before the lowest level's.
  const firstTop = rows.findIndex((r) => r.level === levels.length - 1);
  const level0 = rows.findIndex((r) => r.level === 0);
  assert.ok(firstTop < level0, 'top-level rows are handed over before the pyramid is finished');
  let files = 0;
  for (const row of rows) {
    assert.deepEqual(row.files.map((f) => f.rel), expected.find((e) => e.level === row.level && e.row === row.row)!.files.map((f) => f.rel));
    for (const f of row.files) {
      const early = await readAtHandOver.get(f.rel)!;
      assert.ok(endsComplete(early, 'jpeg'), `${f.rel} was whole when handed over`);
      assert.ok(early.equals(await readFile(join(out, f.rel))), `${f.rel} did not change after it was handed over`);
      files++;
    }
  }
  assert.equal(files, manifest.tiles);
});

test('a sink that fails makes tileImage fail and leaves no descriptor', async () => {
  const input = tmp.file('fail.jpg');
  await noisyJpeg(input, 1200, 900);
  const out = tmp.file('fail-out');
  // Every row was handed over and the cut is finished when drain() is called: only awaiting it keeps the descriptor back.
  let drains = 0;
  const sink: TileSink = { row: () => undefined, drain: async () => { drains++; throw new Error('S3 is gone'); } };
  await assert.rejects(tileImage(input, out, { sink }), /S3 is gone/);
  assert.equal(drains, 1);
  await assert.rejects(access(join(out, 'image.dzi')), { code: 'ENOENT' });
});

test('endsComplete tells whole tiles from cut ones', async () => {
  const jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#123456' } }).jpeg().toBuffer();
  const png = await sharp({ create: { width: 64, height: 64, channels: 4, background: '#12345680' } }).png().toBuffer();
  const webp = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#123456' } }).webp().toBuffer();
  for (const [data, ext] of [[jpeg, 'jpeg'], [png, 'png'], [webp, 'webp']] as const) {
    assert.equal(endsComplete(data, ext), true, ext);
    assert.equal(endsComplete(data.subarray(0, data.length - 1), ext), false, `${ext} cut by one byte`);
    assert.equal(endsComplete(data.subarray(0, 10), ext), false, `${ext} cut short`);
  }
});
