/**
 * `npm run bench -- --split` end to end on a small JPEG: every contender runs once through the
 * service path (its own local servers), the table has a row for each, and every split's tiles are
 * the whole cut's byte for byte (the bench's digest column). No timing assertions.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from './helpers/fixtures.js';
import { noisy } from './helpers/split-fixtures.js';
import { splitBench } from '../bench/split.js';

const tmp = await tempDir('bench-split-');
after(() => tmp.remove());

test('bench --split: whole and split on 1 and 2 workers, each split\'s tiles the whole cut\'s', async () => {
  const image = join(tmp.path, 'split-2mp.jpg');
  await noisy(1301, 2100, 3).jpeg({ quality: 88 }).toFile(image);
  const out = join(tmp.path, 'split.md');
  const table = await splitBench(['--split', '--image', image, '--split-pixels', '700000', '--workers', '1,2', '--runs', '1', '--out', out]);
  assert.equal(await readFile(out, 'utf8'), table);
  assert.match(table, /Split: 3 bands of 1024 rows, k = 1/);
  const rows = table.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| contender'));
  assert.deepEqual(rows.map((l) => l.split(' | ')[0]), ['| vips dzsave (Debian CLI)', '| whole, 1 worker', '| split, 1 worker', '| split, 2 workers']);
  for (const row of rows.slice(1)) {
    const cells = row.split(' | ');
    assert.ok(Number(cells[1]) > 0, `wall time measured: ${row}`);
    assert.equal(cells.at(-1), 'yes, byte for byte |', row);
  }
  assert.equal(rows.at(-1)!.split(' | ')[5]!.split(', ').length, 2, 'a peak RSS for each of the 2 workers');
});
