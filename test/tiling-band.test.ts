/**
 * Split cuts (band-plan.ts, band-cut.ts, assemble-levels.ts) against the unsplit cut of the same
 * file: every tile byte for byte, the thumbnail too. Odd sizes, EXIF orientation 6 (the sharp
 * encoder, through the rotating intermediate), alpha (PNG tiles), and the direct JPEG encoder.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, open, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { tempDir } from './helpers/fixtures.js';
import { noisy } from './helpers/split-fixtures.js';
import { assembledLevels, bandAt, bandColumns, bandLevelInImage, planBands, type BandPlan } from '../shared/tiling/band-plan.js';
import { cutBand, cutBandSlice, type BandCut } from '../shared/tiling/band-cut.js';
import { writeJpegSlice, type JpegSliceIndex } from '../shared/tiling/jpeg-slice.js';
import { indexJpegSlices } from '../shared/tiling/jpeg-slice-index.js';
import { assembleLevels } from '../shared/tiling/assemble-levels.js';
import { writeLevelImage } from '../shared/tiling/level-image.js';
import { defaultFormat } from '../shared/tiling/encoders.js';
import { probeImage } from '../shared/tiling/probe.js';
import { jpegEncoderFor, tileImage } from '../shared/tiling/tile-image.js';
import { deepZoomLevels, tileCount } from '../shared/tiling/pyramid.js';
import type { TileRow, TileSink } from '../shared/tiling/tile-rows.js';

const tmp = await tempDir();
after(() => tmp.remove());
const DEFAULT_LIMITS = { maxPixels: 1e9, maxBufferedPixels: 50e6 };

/** Copies each row's files into `dir` under their `rel` names. */
function collectInto(dir: string): TileSink & { tiles: number } {
  const copies: Promise<void>[] = [];
  const sink = {
    tiles: 0,
    row(row: TileRow) {
      for (const f of row.files) {
        sink.tiles++;
        copies.push(mkdir(dirname(join(dir, f.rel)), { recursive: true }).then(() => copyFile(f.abs, join(dir, f.rel))));
      }
    },
    drain: async () => void (await Promise.all(copies)),
  };
  return sink;
}

async function listTiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for (const level of await readdir(join(dir, 'image_files'))) {
    for (const f of await readdir(join(dir, 'image_files', level))) names.push(`${level}/${f}`);
  }
  return names.sort();
}

/**
 * Cuts `input` whole and split by `plan`; asserts the same tile names and bytes, and that every band
 * read its rows as `read` says (BandCut.read). `read: 'slice'`: the bands are cut from JPEG slices
 * (jpeg-slice.ts), as a worker cuts a plain JPEG, not from the original.
 */
async function assertSplitMatches(name: string, input: string, plan: BandPlan, read: BandCut['read'] = 'band-tiff', limits = DEFAULT_LIMITS, columns?: { maxColumnWidth: number; expect: number }): Promise<void> {
  const slices = read === 'slice';
  const probe = await probeImage(input, limits);
  const format = defaultFormat(probe.hasAlpha);
  const jpegEncoder = jpegEncoderFor('direct', input, probe, format);
  const whole = tmp.file(`${name}-whole`);
  const manifest = await tileImage(input, whole, { ...limits, format, jpegEncoder: jpegEncoder ?? undefined, tmpDir: tmp.path });

  const split = tmp.file(`${name}-split`);
  const levelImages: string[] = [];
  let bandTiles = 0;
  for (let i = 0; i < plan.bands; i++) {
    const dir = tmp.file(`${name}-band${i}`);
    await mkdir(dir);
    const sink = collectInto(split);
    const beforeDecode: string[] = [];
    const sinksAsked: number[] = [];
    const sinkFor = (column: { index: number }) => (sinksAsked.push(column.index), sink);
    const options = { plan, band: bandAt(plan, i), format, jpegEncoder, ...limits, sinkFor, beforeDecode: () => void beforeDecode.push(`${existsSync(join(dir, 'band.tif'))} ${sink.tiles}`), ...(columns ? { maxColumnWidth: columns.maxColumnWidth } : {}) };
    const cut = slices ? await cutBandSlice(await sliceOf(input, plan, i, dir), (await sliceIndex(input, plan)).slices[i]!.cropTop, dir, options) : await cutBand(input, dir, options);
    assert.equal(sink.tiles, cut.tiles, `band ${i}: the sink got every owned tile`);
    const columnCount = columns?.expect ?? 1;
    assert.deepEqual(sinksAsked, [...Array(columnCount).keys()], `band ${i}: a sink for each of its ${columnCount} column(s), left to right`);
    assert.equal(cut.columns.length, columnCount);
    assert.equal(cut.columns.reduce((n, c) => n + c.tiles, 0), cut.tiles, `band ${i}: its columns' tiles add up`);
    assert.equal(cut.read, read, `band ${i}: its rows read from the ${read}`);
    // Before each libvips pass: the first before any tile (after the band TIFF where there is one), one before each
    // column's cut; from a slice or the original also one before each column's level image, after the columns' tiles.
    const passes = read === 'band-tiff' ? columnCount : 2 * columnCount;
    assert.equal(beforeDecode.length, passes, `band ${i}: beforeDecode before each of ${passes} passes`);
    assert.equal(beforeDecode[0], `${read === 'band-tiff'} 0`, `band ${i}: beforeDecode before the cut`);
    if (passes > 1) assert.ok(Number(beforeDecode[1]!.split(' ')[1]) > 0, `band ${i}: the second pass's beforeDecode after the first column's tiles`);
    bandTiles += cut.tiles;
    levelImages.push(cut.levelImage);
  }
  const sink = collectInto(split);
  const assembled = tmp.file(`${name}-assembled`);
  await mkdir(assembled);
  await assembleLevels(levelImages, assembled, { plan, format, jpegEncoder, sink });
  assert.equal(sink.tiles, tileCount(assembledLevels(plan)), 'the assembling job stores only the levels below the bands\'');
  assert.equal(bandTiles + sink.tiles, manifest.tiles, 'bands and assembling job together store each tile once');

  const names = await listTiles(whole);
  assert.deepEqual(await listTiles(split), names);
  for (const n of names) {
    const [a, b] = await Promise.all([readFile(join(whole, 'image_files', n)), readFile(join(split, 'image_files', n))]);
    assert.ok(a.equals(b), `${name}: tile ${n} differs`);
  }
  const [t1, t2] = await Promise.all([readFile(join(whole, 'thumbnail.jpg')), readFile(join(assembled, 'out', 'thumbnail.jpg'))]);
  assert.ok(t1.equals(t2), `${name}: thumbnail differs`);
}

async function sliceIndex(input: string, plan: BandPlan): Promise<JpegSliceIndex> {
  const index = await indexJpegSlices(input, plan);
  assert.ok(index, 'the JPEG can be sliced');
  return index;
}

/** Band `i`'s JPEG slice, written in `dir` from the original's header and the band's bytes only. */
async function sliceOf(input: string, plan: BandPlan, i: number, dir: string): Promise<string> {
  const index = await sliceIndex(input, plan);
  const file = await readFile(input);
  const slice = index.slices[i]!;
  await writeFile(join(dir, 'entropy.bin'), file.subarray(slice.startByte, slice.endByte));
  assert.equal(await writeJpegSlice(file.subarray(0, index.headerBytes), join(dir, 'entropy.bin'), slice, join(dir, 'slice.jpg')), true);
  return join(dir, 'slice.jpg');
}

test('planBands: band heights are multiples of 256 x 2^k, at least two bands, and none for small or narrow images', () => {
  assert.equal(planBands(1000, 1000, 0), null, '0 never splits');
  assert.equal(planBands(1000, 1000, 1_000_000), null, 'not larger than the limit');
  assert.equal(planBands(200, 100_000, 1000), null, 'narrower than a tile');
  assert.equal(planBands(100_000, 500, 1000), null, 'shorter than two bands of 256 rows');
  assert.deepEqual(planBands(20_000, 15_000, 100e6), { width: 20_000, height: 15_000, shrinks: 3, bandHeight: 6144, bands: 3 });
  assert.deepEqual(planBands(1001, 777, 300_000), { width: 1001, height: 777, shrinks: 0, bandHeight: 512, bands: 2 }, '3 wanted, 2 after rounding up to 256 rows');
  assert.deepEqual(planBands(3000, 2100, 700_000), { width: 3000, height: 2100, shrinks: 0, bandHeight: 256, bands: 9 }, 'more bands wanted: fewer halvings');
  const plan = planBands(3000, 2100, 3_000_000)!;
  assert.deepEqual(plan, { width: 3000, height: 2100, shrinks: 1, bandHeight: 1024, bands: 3 });
  assert.deepEqual(bandAt(plan, 2), { index: 2, top: 2048, height: 52 });
  // Band 1 starts at row 1024: its level 12 (full size) is the image's 12 from tile row 4, its level 11 the image's 11 from row 2.
  assert.deepEqual(bandLevelInImage(plan, bandAt(plan, 1), 12), { level: 12, rowOffset: 4, colOffset: 0 });
  assert.deepEqual(bandLevelInImage(plan, bandAt(plan, 1), 11), { level: 11, rowOffset: 2, colOffset: 0 });
  assert.equal(bandLevelInImage(plan, bandAt(plan, 1), 10), null);
  // Columns of a band: multiples of 256 x 2^k wide but the last, as even as that allows.
  assert.deepEqual(bandColumns(plan, 0), [{ index: 0, left: 0, width: 3000 }], '0: the band whole');
  assert.deepEqual(bandColumns(plan, 3000), [{ index: 0, left: 0, width: 3000 }]);
  assert.deepEqual(bandColumns(plan, 1500), [{ index: 0, left: 0, width: 1536 }, { index: 1, left: 1536, width: 1464 }]);
  assert.deepEqual(bandColumns(plan, 100).map((c) => c.width), [512, 512, 512, 512, 512, 440], 'never narrower than 256 x 2^k');
  assert.throws(() => bandColumns(plan, -1), RangeError);
  // Column 1 of band 1 starts at x 1536: its levels 11 and 10 (the column is 1464 x 1024 px, top level 11) are the image's 12 and 11.
  const column = bandColumns(plan, 1500)[1]!;
  assert.deepEqual(bandLevelInImage(plan, bandAt(plan, 1), 11, column), { level: 12, rowOffset: 4, colOffset: 6 });
  assert.deepEqual(bandLevelInImage(plan, bandAt(plan, 1), 10, column), { level: 11, rowOffset: 2, colOffset: 3 });
  assert.equal(bandLevelInImage(plan, bandAt(plan, 1), 9, column), null);
  assert.deepEqual(assembledLevels(plan).map((l) => l.level), deepZoomLevels(3000, 2100).slice(0, 11).map((l) => l.level));
});

test('the level image is dzsave\'s own level, pixel for pixel, with and without alpha', async () => {
  for (const channels of [3, 4] as const) {
    const src = tmp.file(`level-src-${channels}.tif`);
    // With alpha: also a fully transparent block under opaque rows (the halver reuses its row buffers).
    const { data, info } = await noisy(517, 301, channels).raw().toBuffer({ resolveWithObject: true });
    if (channels === 4) for (let y = 120; y < 200; y++) for (let x = 0; x < 300; x++) data[(y * 517 + x) * 4 + 3] = 0;
    await sharp(data, { raw: { width: 517, height: 301, channels: info.channels } }).tiff({ compression: 'none' }).toFile(src);
    const dz = tmp.file(`level-dz-${channels}`);
    await sharp(src).png({ compressionLevel: 1 }).tile({ size: 1024, overlap: 0, layout: 'dz', depth: 'onepixel' }).toFile(dz);
    for (const shrinks of [1, 2, 3]) {
      const out = tmp.file(`level-${channels}-${shrinks}.png`);
      await writeLevelImage(src, { width: 517, height: 301, alpha: channels === 4 }, shrinks, out);
      const ours = await sharp(out).raw().toBuffer({ resolveWithObject: true });
      const theirs = await sharp(join(`${dz}_files`, String(10 - shrinks), '0_0.png')).raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual([ours.info.width, ours.info.height, ours.info.channels], [theirs.info.width, theirs.info.height, theirs.info.channels]);
      assert.ok(ours.data.equals(theirs.data), `${channels} channels, ${shrinks} halvings`);
    }
  }
});

test('a JPEG with EXIF orientation 6 and odd sides: the split pyramid is the unsplit one, byte for byte', async () => {
  const input = tmp.file('rotated.jpg');
  await noisy(1211, 1537, 3).jpeg({ quality: 90 }).withMetadata({ orientation: 6 }).toFile(input);
  // Displayed 1537 x 1211: bands of 1024 rows (k = 1), the last 187 rows.
  const plan = planBands(1537, 1211, 1_000_000)!;
  assert.deepEqual(plan, { width: 1537, height: 1211, shrinks: 1, bandHeight: 1024, bands: 2 });
  await assertSplitMatches('rotated', input, plan);
});

test('a PNG with alpha and odd sides: the split pyramid is the unsplit one, byte for byte', async () => {
  const input = tmp.file('alpha.png');
  await noisy(1283, 1029, 4).png().toFile(input);
  const plan = planBands(1283, 1029, 400_000)!;
  assert.deepEqual(plan, { width: 1283, height: 1029, shrinks: 0, bandHeight: 512, bands: 3 }, 'the last band 5 rows');
  await assertSplitMatches('alpha', input, plan);
});

test('a PNG without alpha cut by the direct encoder: its band TIFFs cut whole or as columns, split as unsplit, byte for byte', async () => {
  const input = tmp.file('opaque.png');
  await noisy(1301, 1100, 3).png().toFile(input);
  const plan = planBands(1301, 1100, 700_000)!;
  assert.deepEqual(plan, { width: 1301, height: 1100, shrinks: 0, bandHeight: 512, bands: 3 });
  await assertSplitMatches('opaque', input, plan, 'band-tiff');
  await assertSplitMatches('opaque-columns', input, plan, 'band-tiff', DEFAULT_LIMITS, { maxColumnWidth: 512, expect: 3 });
});

test('a plain JPEG (the direct encoder): the split pyramid is the unsplit one, byte for byte', async () => {
  const input = tmp.file('plain.jpg');
  await noisy(1301, 2100, 3).jpeg({ quality: 88 }).toFile(input);
  const plan = planBands(1301, 2100, 2_000_000)!;
  assert.deepEqual(plan, { width: 1301, height: 2100, shrinks: 2, bandHeight: 2048, bands: 2 });
  await assertSplitMatches('plain', input, plan);
});

test('a tall image split with k = 3 (bands of 4096 rows, the last 37): the split pyramid is the unsplit one, byte for byte', async () => {
  // Taller than wide: each band's pyramid has fewer levels than the image's, so band level numbers map by their distance from the top.
  const input = tmp.file('tall.jpg');
  await noisy(301, 4133, 3).jpeg({ quality: 85 }).toFile(input);
  const plan = planBands(301, 4133, 700_000)!;
  assert.deepEqual(plan, { width: 301, height: 4133, shrinks: 3, bandHeight: 4096, bands: 2 });
  await assertSplitMatches('tall', input, plan);
});

test('a plain JPEG cut from slices of its bands (no rows above a band decoded): the split pyramid is the unsplit one, byte for byte', async () => {
  // 4:2:0 and odd sides; bands of 1024 rows (k = 1), the last 52 rows.
  const input = tmp.file('sliced.jpg');
  await noisy(1301, 2100, 3).jpeg({ quality: 88 }).toFile(input);
  const plan = planBands(1301, 2100, 1_000_000)!;
  assert.deepEqual(plan, { width: 1301, height: 2100, shrinks: 1, bandHeight: 1024, bands: 3 });
  await assertSplitMatches('sliced', input, plan, 'slice');
  // Narrow and tall, k = 3, 4:4:4.
  const tall = tmp.file('sliced-tall.jpg');
  await noisy(301, 4133, 3).jpeg({ quality: 85, chromaSubsampling: '4:4:4' }).toFile(tall);
  await assertSplitMatches('sliced-tall', tall, planBands(301, 4133, 700_000)!, 'slice');
});

test('hard inputs cut whole by a streamed or converted direct cut: a CMYK JPEG and a progressive JPEG, split as unsplit, byte for byte', async () => {
  // The whole CMYK cut converts to sRGB inside dzsave's pipeline; its bands convert in the TIFF path (sharp): the same operation.
  const cmyk = tmp.file('cmyk.jpg');
  await noisy(1301, 1100, 3).toColourspace('cmyk').jpeg({ quality: 90 }).toFile(cmyk);
  assert.equal((await sharp(cmyk).metadata()).space, 'cmyk');
  await assertSplitMatches('cmyk', cmyk, planBands(1301, 1100, 700_000)!);
  // The whole progressive cut reads its rewrite from a pipe (tables from the first rows); bands rewrite it to a file.
  const progressive = tmp.file('progressive.jpg');
  await noisy(1301, 1100, 3).jpeg({ quality: 88, progressive: true }).toFile(progressive);
  const rewritten = { maxPixels: 1e9, maxBufferedPixels: 1000 };
  assert.equal((await probeImage(progressive, rewritten)).baselineRewrite, true);
  await assertSplitMatches('progressive', progressive, planBands(1301, 1100, 700_000)!, 'band-tiff', rewritten);
});

test('TIFFs cut direct: each band reads its rows from the original (tiled or in strips), split as unsplit, byte for byte', async () => {
  // Odd sides, k = 1: bands of 1024 rows, the last 52. Tiled JPEG-compressed, as large scans come, and in deflate strips.
  const plan = planBands(1301, 2100, 1_000_000)!;
  assert.deepEqual(plan, { width: 1301, height: 2100, shrinks: 1, bandHeight: 1024, bands: 3 });
  const tiled = tmp.file('tiled.tif');
  await noisy(1301, 2100, 3).tiff({ tile: true, tileWidth: 256, tileHeight: 256, compression: 'jpeg', quality: 90 }).toFile(tiled);
  await assertSplitMatches('tiled', tiled, plan, 'original');
  const striped = tmp.file('striped.tif');
  await noisy(1301, 2100, 3).tiff({ compression: 'deflate' }).toFile(striped);
  await assertSplitMatches('striped', striped, plan, 'original');
  // Cut as columns of 512 px (a wide band's way, band-plan.ts bandColumns): 512 + 512 + 277, the same pyramid.
  await assertSplitMatches('tiled-columns', tiled, plan, 'original', DEFAULT_LIMITS, { maxColumnWidth: 512, expect: 3 });
  await assertSplitMatches('striped-columns', striped, plan, 'original', DEFAULT_LIMITS, { maxColumnWidth: 700, expect: 2 });
  // The narrowest last column there can be: 513 px as 512 + 1 (k = 0).
  const narrow = tmp.file('narrow.tif');
  await noisy(513, 1100, 3).tiff({ tile: true, tileWidth: 256, tileHeight: 256, compression: 'jpeg', quality: 90 }).toFile(narrow);
  const narrowPlan = planBands(513, 1100, 200_000)!;
  assert.deepEqual(bandColumns(narrowPlan, 512).map((c) => c.width), [512, 1]);
  await assertSplitMatches('narrow-columns', narrow, narrowPlan, 'original', DEFAULT_LIMITS, { maxColumnWidth: 512, expect: 2 });
  // With alpha the sharp encoder cuts it (PNG tiles): its bands go through the band TIFF as before.
  const alpha = tmp.file('alpha.tif');
  await noisy(1283, 1029, 4).tiff({ compression: 'deflate' }).toFile(alpha);
  await assertSplitMatches('alpha-tiff', alpha, planBands(1283, 1029, 400_000)!, 'band-tiff');
});

test('a tiled TIFF with damaged tiles: the band that holds them fails with HUGEMAP_ERR_CORRUPT_IMAGE, as the whole cut does; the others cut', async () => {
  const input = tmp.file('damaged.tif');
  await noisy(1301, 2100, 3).tiff({ tile: true, tileWidth: 256, tileHeight: 256, compression: 'jpeg', quality: 90 }).toFile(input);
  // Overwrite tile data in the middle of the file (libvips writes the directory last, so it survives).
  const size = (await stat(input)).size;
  const file = await open(input, 'r+');
  await file.write(Buffer.alloc(Math.floor(size * 0.3), 0xff), 0, Math.floor(size * 0.3), Math.floor(size * 0.5));
  await file.close();
  await assert.rejects(tileImage(input, tmp.file('damaged-whole'), { ...DEFAULT_LIMITS, jpegEncoder: 'direct' }), { code: 'HUGEMAP_ERR_CORRUPT_IMAGE' });
  const plan = planBands(1301, 2100, 1_000_000)!;
  const outcomes: string[] = [];
  for (let i = 0; i < plan.bands; i++) {
    const dir = tmp.file(`damaged-band${i}`);
    await mkdir(dir);
    outcomes.push(await cutBand(input, dir, { plan, band: bandAt(plan, i), format: 'jpeg', jpegEncoder: 'direct', ...DEFAULT_LIMITS, maxColumnWidth: 512 }).then(
      (cut) => cut.read,
      (err: { code?: string }) => err.code ?? String(err),
    ));
  }
  assert.deepEqual(outcomes, ['original', 'HUGEMAP_ERR_CORRUPT_IMAGE', 'original']);
});
