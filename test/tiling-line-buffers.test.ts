/**
 * libvips' line buffers sized by bytes, not lines (line-buffers.ts): the tile
 * height chosen for each width, that it reaches sharp's libvips, that tileImage
 * sets it from the input before cutting, and that it changes no tile.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { dzsaveDirect } from '../shared/tiling/dzsave-direct.js';
import { tileImage } from '../shared/tiling/index.js';
import { DEFAULT_TILE_HEIGHT, decodedRowBytes, tileHeightFor } from '../shared/tiling/line-buffers.js';
import { vipsFfi } from '../shared/tiling/vips-ffi.js';
import { gradient, tempDir } from './helpers/fixtures.js';

const tmp = await tempDir('hugemap-lines-');
after(async () => {
  vipsFfi()?.setTileHeight(DEFAULT_TILE_HEIGHT);
  await tmp.remove();
});

const vips = () => {
  const v = vipsFfi();
  assert.ok(v, "sharp's libvips loads through koffi here");
  return v;
};

test('the tile height is the largest power of two from 128 down to 16 whose buffered rows fit 48 MB', () => {
  assert.equal(tileHeightFor(20480 * 3), 128, '236 MP RGB keeps libvips\' default: 6 x 128 rows = 47.2 MB');
  assert.equal(tileHeightFor(20480 * 4), 64, 'the same width in CMYK');
  assert.equal(tileHeightFor(40960 * 3), 64, '944 MP RGB');
  assert.equal(tileHeightFor(81920 * 3), 32);
  assert.equal(tileHeightFor(10_000_000), 16, 'never below 16');
  assert.equal(tileHeightFor(100), 128, 'never above libvips\' default');
  assert.equal(tileHeightFor(1000, 6 * 32 * 1000), 32, 'the budget is a parameter');
});

test('a decoded row is counted as the file stores it: before rotation, every band, every sample byte', () => {
  const rgb = { width: 4000, height: 3000, orientation: 1, channels: 3, depth: 'uchar' };
  assert.equal(decodedRowBytes(rgb), 12_000);
  assert.equal(decodedRowBytes({ ...rgb, orientation: 6 }), 9_000, 'orientation 6: the stored rows are the displayed height');
  assert.equal(decodedRowBytes({ ...rgb, channels: 4 }), 16_000, 'CMYK or alpha');
  assert.equal(decodedRowBytes({ ...rgb, depth: 'ushort' }), 24_000, '16-bit');
  assert.equal(decodedRowBytes({ ...rgb, depth: 'float' }), 48_000);
});

test('the setting reaches sharp\'s libvips, and a bad value is refused', () => {
  assert.equal(vips().setTileHeight(32), true);
  assert.equal(vips().tileHeight(), 32);
  assert.equal(vips().setTileHeight(0), false);
  assert.equal(vips().tileHeight(), 32, 'unchanged by the refused value');
  assert.equal(vips().setTileHeight(DEFAULT_TILE_HEIGHT), true);
  assert.equal(vips().tileHeight(), DEFAULT_TILE_HEIGHT);
});

test('tileImage sets the tile height from each input before cutting', async () => {
  // 20,900 px of RGB: 6 x 128 rows would be 48.2 MB, just over the budget.
  const wide = tmp.file('wide.jpg');
  await sharp({ create: { width: 20_900, height: 300, channels: 3, background: '#336699' } }).jpeg().toFile(wide);
  const plain = tmp.file('plain.jpg');
  await gradient(1500, 700).jpeg().toFile(plain);

  await tileImage(wide, tmp.file('out-wide'));
  assert.equal(vips().tileHeight(), 64);
  await tileImage(plain, tmp.file('out-plain'));
  assert.equal(vips().tileHeight(), 128, 'a narrow input gets the default back');
});

async function tileBytes(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.jpeg')) out.set(relative(dir, join(e.parentPath, e.name)), await readFile(join(e.parentPath, e.name)));
  }
  return out;
}

test('the buffers change no tile: dzsave at tile height 16 and 128 writes the same bytes', async () => {
  const input = tmp.file('gradient.jpg');
  await gradient(1500, 700).jpeg({ quality: 92 }).toFile(input);
  const cuts: Array<Map<string, Buffer>> = [];
  for (const lines of [16, DEFAULT_TILE_HEIGHT]) {
    assert.equal(vips().setTileHeight(lines), true);
    await dzsaveDirect({ path: input, format: 'jpeg' }, tmp.file(`cut-${lines}`), 85);
    cuts.push(await tileBytes(tmp.file(`cut-${lines}_files`)));
  }
  const [small, standard] = cuts as [Map<string, Buffer>, Map<string, Buffer>];
  assert.ok(standard.size > 20, `a pyramid of several levels (${standard.size} tiles)`);
  assert.deepEqual([...small.keys()].sort(), [...standard.keys()].sort());
  for (const [name, bytes] of standard) assert.ok(bytes.equals(small.get(name)!), `${name} is the same`);
});
