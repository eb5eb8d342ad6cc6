/** End to end: the files libvips writes are exactly the pyramid deepZoomLevels() describes. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { deepZoomLevels, dziXml, tileCount, tileSizeAt, tileImage, type TileFormat } from '../shared/tiling/index.js';
import { quadrants, tempDir } from './helpers/fixtures.js';

const tmp = await tempDir();
after(() => tmp.remove());

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

async function assertPyramid(outDir: string, width: number, height: number, format: TileFormat): Promise<void> {
  const levels = deepZoomLevels(width, height);
  const expected = ['image.dzi', 'manifest.json', 'thumbnail.jpg'];
  for (const l of levels) {
    for (let col = 0; col < l.cols; col++) {
      for (let row = 0; row < l.rows; row++) expected.push(`image_files/${l.level}/${col}_${row}.${format}`);
    }
  }
  assert.deepEqual(await listFiles(outDir), expected.sort(), 'every expected file, nothing else');
  for (const l of levels) {
    for (let col = 0; col < l.cols; col++) {
      for (let row = 0; row < l.rows; row++) {
        const meta = await sharp(join(outDir, 'image_files', String(l.level), `${col}_${row}.${format}`)).metadata();
        assert.deepEqual({ width: meta.width, height: meta.height }, tileSizeAt(l, col, row), `level ${l.level} tile ${col}_${row}`);
        assert.equal(meta.format, format);
      }
    }
  }
  assert.equal(await readFile(join(outDir, 'image.dzi'), 'utf8'), dziXml(width, height, 256, 0, format));
  const manifest = JSON.parse(await readFile(join(outDir, 'manifest.json'), 'utf8'));
  assert.equal(manifest.width, width);
  assert.equal(manifest.height, height);
  assert.equal(manifest.levels, levels.length);
  assert.equal(manifest.tiles, tileCount(levels));
}

for (const [width, height] of [[1, 1], [256, 256], [257, 513], [1000, 1], [20000, 300]] as const) {
  test(`${width}x${height}: files and tile sizes match deepZoomLevels()`, async () => {
    const input = tmp.file(`in-${width}x${height}.png`);
    await quadrants(width, height).png().toFile(input);
    const outDir = tmp.file(`out-${width}x${height}`);
    const manifest = await tileImage(input, outDir);
    assert.equal(manifest.format, 'jpeg', 'opaque input tiles as jpeg by default');
    await assertPyramid(outDir, width, height, 'jpeg');
  });
}

test('png and webp tiles follow the same geometry', async () => {
  const input = tmp.file('in-300x700.png');
  await quadrants(300, 700).png().toFile(input);
  for (const format of ['png', 'webp'] as const) {
    const outDir = tmp.file(`out-300x700-${format}`);
    const manifest = await tileImage(input, outDir, { format });
    assert.equal(manifest.format, format);
    await assertPyramid(outDir, 300, 700, format);
  }
});
