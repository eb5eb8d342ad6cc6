/** The preview (shared/tiling/preview.ts): which inputs get one, its size, its pixels. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import sharp from 'sharp';
import { probeImage } from '../shared/tiling/probe.js';
import { previewLevel, writePreview } from '../shared/tiling/preview.js';
import { tileImage } from '../shared/tiling/tile-image.js';
import { gradient, meanDifference, tempDir } from './helpers/fixtures.js';

const tmp = await tempDir();
after(() => tmp.remove());
const limits = { maxPixels: 1e9 };

test('a JPEG gets a preview of its first-view level, with the pixels of that level of the pyramid', async () => {
  // 3000 px wide: levels 0..12; level 11 (1500 x 1000) is the first at least 1024 px wide.
  const input = tmp.file('wide.jpg');
  await gradient(3000, 2000).jpeg({ quality: 90 }).toFile(input);
  const probe = await probeImage(input, limits);
  assert.deepEqual(previewLevel(probe), { level: 11, width: 1500, height: 1000, cols: 6, rows: 4 });

  const out = tmp.file('wide-preview.jpg');
  const made = await writePreview(input, probe, out, limits);
  assert.deepEqual([made?.width, made?.height], [1500, 1000]);
  const meta = await sharp(out).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height, meta.channels, meta.isProgressive], ['jpeg', 1500, 1000, 3, false]);
  assert.equal(made?.bytes, (await stat(out)).size);

  // It lies exactly under level 11's tiles: compare with the tile the pyramid has there.
  await tileImage(input, tmp.file('wide-pyramid'), { format: 'jpeg' });
  const tile = await sharp(tmp.file('wide-pyramid/image_files/11/2_1.jpeg')).raw().toBuffer();
  const region = await sharp(out).extract({ left: 512, top: 256, width: 256, height: 256 }).raw().toBuffer();
  assert.ok(meanDifference(region, tile) < 3, `mean difference ${meanDifference(region, tile)}`);
});

test('the input is no longer mapped once the preview is written: the cut does not start beside it', async () => {
  // libvips maps a JPEG it opens by name; its operation cache would keep the mapping (84 MB at 944 MP).
  const input = tmp.file('mapped.jpg');
  await gradient(3000, 2000).jpeg({ quality: 90 }).toFile(input);
  const made = await writePreview(input, await probeImage(input, limits), tmp.file('mapped-preview.jpg'), limits);
  assert.equal(made?.width, 1500);
  const maps = await readFile('/proc/self/maps', 'utf8');
  assert.ok(!maps.includes(input), 'the input JPEG is not in /proc/self/maps');
});

test('a plain JPEG is never mapped while its preview is made: it is read through a pipe', async () => {
  // Mapped, every page the decoder had read stayed resident: 169 MB of a 1.9 GP JPEG (docs/split-jobs.md).
  const input = tmp.file('piped.jpg');
  await gradient(8000, 6000).jpeg({ quality: 95 }).toFile(input);
  const probe = await probeImage(input, limits);
  let finished = false;
  let polls = 0;
  let mapped = 0;
  const making = writePreview(input, probe, tmp.file('piped-preview.jpg'), limits).finally(() => { finished = true; });
  while (!finished) {
    polls++;
    if ((await readFile('/proc/self/maps', 'utf8')).includes(input)) mapped++;
  }
  const made = await making;
  assert.deepEqual([made?.width, made?.height], [previewLevel(probe)?.width, previewLevel(probe)?.height], 'the first-view level');
  assert.ok(polls > 1, `looked ${polls} times while it ran`);
  assert.equal(mapped, 0, `the input was mapped in ${mapped} of ${polls} looks`);
});

test('CMYK and greyscale JPEGs: an 8-bit sRGB preview', async () => {
  for (const [name, make] of [
    ['cmyk.jpg', () => gradient(1200, 800).toColourspace('cmyk').jpeg()],
    ['grey.jpg', () => gradient(1200, 800).greyscale().jpeg()],
  ] as const) {
    const input = tmp.file(name);
    await make().toFile(input);
    const probe = await probeImage(input, limits);
    const out = tmp.file(`preview-${name}`);
    assert.ok(await writePreview(input, probe, out, limits), name);
    const meta = await sharp(out).metadata();
    assert.deepEqual([meta.space, meta.channels, meta.depth, meta.width, meta.height], ['srgb', 3, 'uchar', 1200, 800], name);
  }
});

test('inputs a preview would cost a second full decode for get none, and nothing is written', async () => {
  const png = tmp.file('in.png');
  await gradient(800, 600).png().toFile(png);
  // EXIF orientation 6 (rotated): libvips cannot stream it, tiling goes through an intermediate.
  const rotated = tmp.file('rotated.jpg');
  await gradient(800, 600).jpeg().withMetadata({ orientation: 6 }).toFile(rotated);
  for (const input of [png, rotated]) {
    const probe = await probeImage(input, limits);
    assert.equal(previewLevel(probe), null, input);
    const out = tmp.file('none.jpg');
    assert.equal(await writePreview(input, probe, out, limits), null);
    assert.equal(existsSync(out), false);
  }
});
