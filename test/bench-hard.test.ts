/**
 * `npm run bench -- --hard` end to end on a small photo: the four hard inputs are made beside it,
 * each is cut by vips dzsave and hugemap tile, and the table has a row for each with measured
 * values and the same tile count as vips. No timing assertions.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { tempDir } from './helpers/fixtures.js';
import { noisy } from './helpers/split-fixtures.js';
import { hardInputsBench } from '../bench/hard-inputs.js';

const tmp = await tempDir('bench-hard-');
after(() => tmp.remove());

test('bench --hard: progressive JPEG (plain and with restart markers), Adam7 PNG and CMYK JPEG, each against vips dzsave', async () => {
  const photo = join(tmp.path, 'photo.jpg');
  await noisy(1301, 1029, 3).jpeg({ quality: 88 }).toFile(photo);
  const out = join(tmp.path, 'hard.md');
  const report = await hardInputsBench(['--hard', '--image', photo, '--runs', '1', '--out', out]);
  assert.equal(await readFile(out, 'utf8'), `${report}\n`);

  // The inputs really are what their names say.
  const prog = await sharp(join(tmp.path, 'photo-prog.jpg')).metadata();
  const restarts = await readFile(join(tmp.path, 'photo-prog-rst.jpg'));
  const png = await sharp(join(tmp.path, 'photo-interlaced.png')).metadata();
  const cmyk = await sharp(join(tmp.path, 'photo-cmyk.jpg')).metadata();
  assert.equal(prog.isProgressive, true);
  assert.equal((await sharp(restarts).metadata()).isProgressive, true);
  assert.equal(restarts.readUInt16BE(restarts.indexOf(Buffer.from([0xff, 0xdd])) + 4), 4, 'a DRI segment: restart every 4 MCUs');
  assert.equal(png.isProgressive, true, 'Adam7');
  assert.equal(cmyk.space, 'cmyk');
  assert.ok(!existsSync(join(tmp.path, 'photo-cmyk.part.jpg')), 'no temporary file left');

  const sections = report.split('\n## ').slice(1);
  assert.deepEqual(sections.map((s) => s.split(':')[0]), ['progressive JPEG', 'progressive JPEG, restart every 4 MCUs', 'Adam7 PNG', 'CMYK JPEG']);
  for (const section of sections) {
    assert.match(section, /\(1301x1029, 1\.3 MP\)/);
    const rows = section.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| contender'));
    assert.deepEqual(rows.map((l) => l.split(' | ')[0]), ['| vips dzsave (Debian CLI)', '| hugemap tile']);
    for (const row of rows) {
      const cells = row.split(' | ');
      assert.ok(Number(cells[1]!.split(' ')[0]) > 0, `wall time measured: ${row}`);
      assert.ok(Number(cells[4]) > 0, `peak RSS measured: ${row}`);
      assert.equal(cells[5], 'yes |', `same tile count as vips: ${row}`);
    }
    assert.equal(rows[0]!.split(' | ')[2], '1.00x');
  }
});
