/** Pixel correctness: the tiles show the source, oriented, in 8-bit sRGB, alpha kept where asked. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { tileImage } from '../shared/tiling/index.js';
import {
  gradient, maxDifference, meanDifference, pixelAt, quadrantRaw, quadrants, rawPixels, tempDir, RED, GREEN, BLUE, WHITE,
} from './helpers/fixtures.js';

const tmp = await tempDir();
after(() => tmp.remove());

const tile = (outDir: string, level: number, col: number, row: number, ext = 'jpeg') => join(outDir, 'image_files', String(level), `${col}_${row}.${ext}`);

function near(actual: number[], expected: readonly number[], tolerance: number, what: string): void {
  const ok = expected.every((v, i) => Math.abs((actual[i] ?? -999) - v) <= tolerance);
  assert.ok(ok, `${what}: got [${actual.join(', ')}], expected [${expected.join(', ')}] +-${tolerance}`);
}

/** The region of a raw RGB image a tile covers, as raw RGB. */
async function region(source: sharp.Sharp, left: number, top: number, width: number, height: number): Promise<Buffer> {
  return source.extract({ left, top, width, height }).removeAlpha().raw().toBuffer();
}

test('known colour regions: top level exact in png, jpeg within tolerance, reduced level matches a resize', async () => {
  const input = tmp.file('quadrants.png');
  await quadrants(1024, 768).png().toFile(input);

  const png = tmp.file('q-png');
  await tileImage(input, png, { format: 'png' });
  for (const [col, row] of [[0, 0], [3, 2], [1, 1]] as const) {
    const expected = await region(quadrants(1024, 768), col * 256, row * 256, 256, 256);
    const actual = await sharp(tile(png, 10, col, row, 'png')).raw().toBuffer();
    assert.equal(maxDifference(actual, expected), 0, `png tile ${col}_${row} is lossless`);
  }

  const jpeg = tmp.file('q-jpeg');
  await tileImage(input, jpeg);
  const top = await rawPixels(tile(jpeg, 10, 1, 1));
  assert.ok(meanDifference(top.data, await region(quadrants(1024, 768), 256, 256, 256, 256)) < 3, 'jpeg tile close to source');
  near(pixelAt(top, 10, 10), RED, 8, 'top-left quadrant');
  near(pixelAt(top, 10, 200), BLUE, 8, 'bottom-left quadrant');
  near(pixelAt(await rawPixels(tile(jpeg, 10, 3, 0)), 100, 100), GREEN, 8, 'top-right quadrant');
  near(pixelAt(await rawPixels(tile(jpeg, 10, 3, 2)), 100, 100), WHITE, 8, 'bottom-right quadrant');

  // Level 9 is the image at half size (512x384): compare with sharp's own resize.
  const half = await rawPixels(tile(jpeg, 9, 0, 0));
  assert.deepEqual([half.width, half.height], [256, 256]);
  const resized = sharp(await quadrants(1024, 768).resize(512, 384).png().toBuffer());
  assert.ok(meanDifference(half.data, await region(resized, 0, 0, 256, 256)) < 4, 'reduced level matches a resize');
});

test('EXIF orientation 6: a portrait photo stays portrait, marker in the right corner', async () => {
  // Stored landscape 300x100, green with a red block at the stored top-left; orientation 6 displays it
  // rotated 90 degrees clockwise: 100x300 with the red block at the top-RIGHT.
  const input = tmp.file('orient6.jpg');
  await sharp({ create: { width: 300, height: 100, channels: 3, background: { r: 0, g: 255, b: 0 } } })
    .composite([{ input: { create: { width: 40, height: 40, channels: 3, background: { r: 255, g: 0, b: 0 } } }, left: 0, top: 0 }])
    .jpeg({ quality: 95 })
    .withMetadata({ orientation: 6 })
    .toFile(input);
  const outDir = tmp.file('orient6');
  const manifest = await tileImage(input, outDir);
  assert.deepEqual([manifest.width, manifest.height], [100, 300]);
  assert.equal(manifest.source.orientation, 6);
  assert.equal(manifest.source.intermediate, 'exif-orientation');
  assert.match(await readFile(join(outDir, 'image.dzi'), 'utf8'), /<Size Height="300" Width="100"\/>/);
  const top = await rawPixels(tile(outDir, 9, 0, 0));
  assert.deepEqual([top.width, top.height], [100, 256]);
  near(pixelAt(top, 80, 20), RED, 12, 'displayed top-right');
  near(pixelAt(top, 20, 20), GREEN, 12, 'displayed top-left');
  near(pixelAt(top, 80, 200), GREEN, 12, 'displayed lower right');
});

test('every EXIF orientation, through the intermediate or not, gives the pixels of sharp autoOrient', async () => {
  const stored = await gradient(120, 50).jpeg({ quality: 95 }).toBuffer();
  for (const orientation of [2, 3, 4, 5, 6, 7, 8]) {
    const input = tmp.file(`o${orientation}.jpg`);
    await sharp(stored).withMetadata({ orientation }).jpeg({ quality: 95 }).toFile(input);
    const outDir = tmp.file(`o${orientation}`);
    const manifest = await tileImage(input, outDir, { format: 'png' });
    const expected = await sharp(input, { autoOrient: true }).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([manifest.width, manifest.height], [expected.info.width, expected.info.height], `orientation ${orientation}`);
    const actual = await sharp(tile(outDir, 7, 0, 0, 'png')).raw().toBuffer();
    assert.equal(maxDifference(actual, expected.data), 0, `orientation ${orientation} pixels`);
  }
});

test('CMYK JPEG becomes 3-channel sRGB', async () => {
  const input = tmp.file('cmyk.jpg');
  await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 220, g: 30, b: 30 } } }).toColourspace('cmyk').jpeg().toFile(input);
  assert.equal((await sharp(input).metadata()).space, 'cmyk');
  const outDir = tmp.file('cmyk');
  await tileImage(input, outDir);
  const meta = await sharp(tile(outDir, 6, 0, 0)).metadata();
  assert.equal(meta.channels, 3);
  assert.equal(meta.space, 'srgb');
  const [r = 0, g = 0, b = 0] = pixelAt(await rawPixels(tile(outDir, 6, 0, 0)), 32, 32);
  assert.ok(r > 180 && g < 90 && b < 90, `red stays red: ${r},${g},${b}`);
});

test('16-bit PNG becomes 8-bit with the same colours', async () => {
  const input = tmp.file('rgb16.png');
  await quadrants(300, 200).toColourspace('rgb16').png().toFile(input);
  assert.equal((await sharp(input).metadata()).depth, 'ushort');
  const outDir = tmp.file('rgb16');
  await tileImage(input, outDir, { format: 'png' });
  const meta = await sharp(tile(outDir, 9, 0, 0, 'png')).metadata();
  assert.equal(meta.depth, 'uchar');
  assert.equal(meta.channels, 3);
  const actual = await sharp(tile(outDir, 9, 0, 0, 'png')).raw().toBuffer();
  assert.ok(maxDifference(actual, await region(quadrants(300, 200), 0, 0, 256, 200)) <= 1);
});

test('greyscale becomes sRGB (3 channels)', async () => {
  const input = tmp.file('grey.png');
  await gradient(300, 200).toColourspace('b-w').png().toFile(input);
  assert.equal((await sharp(input).metadata()).channels, 1);
  const outDir = tmp.file('grey');
  await tileImage(input, outDir);
  const meta = await sharp(tile(outDir, 9, 0, 0)).metadata();
  assert.deepEqual([meta.channels, meta.space], [3, 'srgb']);
});

test('an embedded ICC profile is honoured (Display P3 -> sRGB)', async () => {
  const input = tmp.file('p3.png');
  const colour = { r: 200, g: 50, b: 50 };
  await sharp({ create: { width: 64, height: 64, channels: 3, background: colour } }).withIccProfile('p3').png().toFile(input);
  const stored = [...(await sharp(input, { ignoreIcc: true }).raw().toBuffer()).subarray(0, 3)];
  assert.ok(maxDifference(Buffer.from(stored), Buffer.from([200, 50, 50])) > 5, `fixture stores P3 values: ${stored}`);
  const outDir = tmp.file('p3');
  await tileImage(input, outDir, { format: 'png' });
  near(pixelAt(await rawPixels(tile(outDir, 6, 0, 0, 'png')), 10, 10), [200, 50, 50], 2, 'converted back to sRGB');
});

test('alpha PNG: png tiles keep alpha; thumbnail is flattened on white', async () => {
  const input = tmp.file('alpha.png');
  await sharp(quadrantRaw(400, 300, 4, 0), { raw: { width: 400, height: 300, channels: 4 } })
    .composite([{ input: { create: { width: 100, height: 100, channels: 4, background: { r: 0, g: 0, b: 255, alpha: 1 } } }, left: 0, top: 0 }])
    .png()
    .toFile(input);
  const outDir = tmp.file('alpha');
  const manifest = await tileImage(input, outDir);
  assert.equal(manifest.format, 'png', 'alpha defaults to png');
  const top = await rawPixels(tile(outDir, 9, 0, 0, 'png'));
  assert.equal(top.channels, 4);
  assert.deepEqual(pixelAt(top, 50, 50), [0, 0, 255, 255]);
  assert.equal(pixelAt(top, 200, 200)[3], 0, 'transparent stays transparent');
  const thumb = await rawPixels(join(outDir, 'thumbnail.jpg'));
  assert.equal(thumb.channels, 3);
  near(pixelAt(thumb, 200, 150), WHITE, 6, 'transparent area is white in the thumbnail');
  near(pixelAt(thumb, 20, 20), BLUE, 12, 'opaque area keeps its colour');
});

test('alpha image tiled as jpeg is flattened on white', async () => {
  const input = tmp.file('alpha2.png');
  await sharp(quadrantRaw(64, 64, 4, 0), { raw: { width: 64, height: 64, channels: 4 } }).png().toFile(input);
  const outDir = tmp.file('alpha-jpeg');
  await tileImage(input, outDir, { format: 'jpeg' });
  near(pixelAt(await rawPixels(tile(outDir, 6, 0, 0)), 10, 10), WHITE, 6, 'transparent -> white');
});

test('multi-page TIFF: the first page is tiled', async () => {
  const page = (r: number, b: number) => sharp({ create: { width: 64, height: 32, channels: 3, background: { r, g: 0, b } } }).png().toBuffer();
  const input = tmp.file('pages.tif');
  await sharp([await page(255, 0), await page(0, 255)], { join: { animated: true } }).tiff({ compression: 'lzw' }).toFile(input);
  const outDir = tmp.file('pages');
  const manifest = await tileImage(input, outDir, { format: 'png' });
  assert.deepEqual([manifest.width, manifest.height], [64, 32]);
  near(pixelAt(await rawPixels(tile(outDir, 6, 0, 0, 'png')), 5, 5), RED, 0, 'first page');
});

test('thumbnail is 256 px on its longest side and the manifest says so', async () => {
  const input = tmp.file('wide.png');
  await gradient(1000, 600).png().toFile(input);
  const outDir = tmp.file('thumb');
  const manifest = await tileImage(input, outDir);
  const meta = await sharp(join(outDir, 'thumbnail.jpg')).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 256, 154]);
  assert.deepEqual(manifest.thumbnail, { width: 256, height: 154 });
  assert.deepEqual(JSON.parse(await readFile(join(outDir, 'manifest.json'), 'utf8')), manifest);
  assert.equal(manifest.tileSize, 256);
  assert.equal(manifest.overlap, 0);
  assert.equal(manifest.quality, 85);
  assert.equal(manifest.source.format, 'png');
  assert.equal(manifest.source.intermediate, null);
});

test('tiles are byte-identical when the same input is tiled again (jpeg, webp)', async () => {
  const input = tmp.file('det.png');
  await gradient(700, 500).png().toFile(input);
  for (const format of ['jpeg', 'webp'] as const) {
    const a = tmp.file(`det-a-${format}`);
    const b = tmp.file(`det-b-${format}`);
    const ma = await tileImage(input, a, { format, quality: 70 });
    await tileImage(input, b, { format, quality: 70 });
    const files = await readdir(join(a, 'image_files'), { recursive: true });
    let compared = 0;
    for (const f of files.filter((name) => name.endsWith(format))) {
      assert.ok((await readFile(join(a, 'image_files', f))).equals(await readFile(join(b, 'image_files', f))), f);
      compared++;
    }
    assert.equal(compared, ma.tiles);
  }
});
