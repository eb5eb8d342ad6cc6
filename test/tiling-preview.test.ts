/** The preview (shared/tiling/preview.ts): which inputs get one, its size, its pixels. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import sharp from 'sharp';
import { probeImage, type ImageProbe } from '../shared/tiling/probe.js';
import { pipedSteps, previewLevel, writePreview } from '../shared/tiling/preview.js';
import { tileImage } from '../shared/tiling/tile-image.js';
import { gradient, meanDifference, smoothColours, tempDir } from './helpers/fixtures.js';

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

test('CMYK, greyscale, other-profile and mirrored JPEGs: read through the pipe too, an 8-bit sRGB preview with the pixels of their pyramid', async () => {
  // sharp's path (the fallback) mapped these: a large CMYK scan's preview could hold its whole file.
  for (const [name, make] of [
    ['cmyk.jpg', () => smoothColours(3000, 2000).toColourspace('cmyk').jpeg()],
    ['grey.jpg', () => smoothColours(3000, 2000).toColourspace('b-w').jpeg()],
    ['p3.jpg', () => smoothColours(3000, 2000).withIccProfile('p3').jpeg()],
    ['mirrored.jpg', () => smoothColours(3000, 2000).jpeg().withMetadata({ orientation: 2 })],
  ] as const) {
    const input = tmp.file(name);
    await make().toFile(input);
    const probe = await probeImage(input, limits);
    assert.ok(pipedSteps(probe), `${name} is read through the pipe`);
    const out = tmp.file(`preview-${name}`);
    let finished = false;
    let mapped = 0;
    const making = writePreview(input, probe, out, limits).finally(() => { finished = true; });
    while (!finished) if ((await readFile('/proc/self/maps', 'utf8')).includes(input)) mapped++;
    assert.deepEqual(await making, { width: 1500, height: 1000, bytes: (await stat(out)).size }, name);
    assert.equal(mapped, 0, `${name} was mapped`);
    const meta = await sharp(out).metadata();
    assert.deepEqual([meta.space, meta.channels, meta.depth, meta.width, meta.height, meta.orientation], ['srgb', 3, 'uchar', 1500, 1000, undefined], name);
    // The same pixels as level 11's tiles (converted and mirrored the same way), where the preview lies under them.
    await tileImage(input, tmp.file(`pyramid-${name}`), { format: 'jpeg' });
    for (const [col, row] of [[0, 0], [2, 1], [5, 3]] as const) {
      const tilePath = tmp.file(`pyramid-${name}/image_files/11/${col}_${row}.jpeg`);
      const tileMeta = await sharp(tilePath).metadata();
      const tile = await sharp(tilePath).toColourspace('srgb').raw().toBuffer();
      const region = await sharp(out).extract({ left: col * 256, top: row * 256, width: tileMeta.width!, height: tileMeta.height! }).raw().toBuffer();
      const difference = meanDifference(region, tile);
      // Below 1 for all four (0.3-0.8); 16.9 for the CMYK one with its conversion left out.
      assert.ok(difference < 1.5, `${name} tile ${col}_${row}: mean difference ${difference}`);
    }
  }
});

test('which JPEGs the pipe takes, and how', () => {
  const plain = { hasAlpha: false, depth: 'uchar', orientation: 1, space: 'srgb', iccProfile: false, srgbProfile: false } as unknown as ImageProbe;
  assert.deepEqual(pipedSteps(plain), { toSrgb: false, grey: false });
  assert.deepEqual(pipedSteps({ ...plain, iccProfile: true, srgbProfile: true }), { toSrgb: false, grey: false });
  assert.deepEqual(pipedSteps({ ...plain, iccProfile: true }), { toSrgb: true, grey: false });
  assert.deepEqual(pipedSteps({ ...plain, space: 'cmyk' }), { toSrgb: true, grey: false });
  assert.deepEqual(pipedSteps({ ...plain, space: 'cmyk', iccProfile: true }), { toSrgb: true, grey: false });
  assert.deepEqual(pipedSteps({ ...plain, space: 'b-w' }), { toSrgb: false, grey: true });
  assert.deepEqual(pipedSteps({ ...plain, orientation: 2 }), { toSrgb: false, grey: false }, 'mirrored: thumbnail_image undoes it');
  // sharp's path: a tagged grey image, a colour space libvips' JPEG loader does not give, a rotation.
  assert.equal(pipedSteps({ ...plain, space: 'b-w', iccProfile: true }), null);
  assert.equal(pipedSteps({ ...plain, space: 'lab' }), null);
  assert.equal(pipedSteps({ ...plain, orientation: 3 }), null);
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
