/**
 * The 'direct' JPEG encoder (dzsave-direct.ts + huffman-pass.ts): dzsave's
 * direct mode in sharp's own libvips, then each tile's Huffman tables optimised.
 * Same files, same decoded pixels and about the same bytes as the sharp
 * encoder; inputs that need any conversion fall back to the sharp path; bad
 * input fails the same way; the checkpoint names it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { HugemapError } from '../shared/errors.js';
import { tilerId } from '../shared/tiling/encoders.js';
import { directDzsaveAvailable, directSafePath, dzsaveDirect } from '../shared/tiling/dzsave-direct.js';
import { optimiseHuffman } from '../shared/tiling/jpeg-huffman-optimise.js';
import { DEFAULT_MAX_BUFFERED_PIXELS, DEFAULT_MAX_PIXELS, jpegEncoderFor, probeImage, tileImage, type TileManifest } from '../shared/tiling/index.js';
import { gradient, tempDir, truncatedCopy } from './helpers/fixtures.js';
import { openPipes } from './helpers/open-pipes.js';

const tmp = await tempDir('hugemap-direct-');
after(() => tmp.remove());

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)));
  }
  return out.sort();
}

const probe = (path: string) => probeImage(path, { maxPixels: DEFAULT_MAX_PIXELS, maxBufferedPixels: DEFAULT_MAX_BUFFERED_PIXELS });

async function decoded(path: string): Promise<Buffer> {
  return sharp(path).raw().toBuffer();
}

let plain: string;
let viaSharp: TileManifest;
let direct: TileManifest;

before(async () => {
  // 1500 x 700, sRGB, no profile: odd sizes so edge tiles are cut, several tiles per level.
  plain = tmp.file('plain.jpg');
  await gradient(1500, 700).jpeg({ quality: 92 }).toFile(plain);
  viaSharp = await tileImage(plain, tmp.file('sharp'), { jpegEncoder: 'sharp' });
  direct = await tileImage(plain, tmp.file('direct'), { jpegEncoder: 'direct' });
});

test('direct mode loads here (sharp\'s libvips through koffi)', () => {
  assert.equal(directDzsaveAvailable(), true);
});

test('the same folder and the same tiles pixel for pixel as the sharp encoder, every tile Huffman-optimised', async () => {
  assert.equal(direct.jpegEncoder, 'direct');
  assert.equal(viaSharp.jpegEncoder, 'sharp');
  const files = await filesUnder(tmp.file('direct'));
  assert.deepEqual(files, await filesUnder(tmp.file('sharp')));
  assert.ok(!files.some((f) => f.endsWith('vips-properties.xml')), 'no stray dzsave files');
  assert.equal(direct.tiles, viaSharp.tiles);
  const tiles = files.filter((f) => f.startsWith('image_files/'));
  assert.equal(tiles.length, direct.tiles);
  let bytes = 0;
  for (const f of tiles) {
    const tile = await readFile(tmp.file(join('direct', f)));
    bytes += tile.length;
    assert.deepEqual(await decoded(tmp.file(join('direct', f))), await decoded(tmp.file(join('sharp', f))), f);
    // Already optimal: a second pass finds nothing to gain (dzsave's own output would shrink).
    assert.equal(optimiseHuffman(tile), null, f);
  }
  assert.equal(direct.bytes, bytes, 'the manifest counts the bytes after the pass');
  // Both are libjpeg's optimal tables for the same coefficients: within a few header bytes a tile.
  assert.ok(Math.abs(direct.bytes - viaSharp.bytes) < viaSharp.bytes * 0.02, `direct ${direct.bytes} bytes vs sharp ${viaSharp.bytes}`);
  // No metadata in a tile: each is a bare JFIF stream.
  const top = await readFile(tmp.file('direct/image_files/11/0_0.jpeg'));
  assert.equal(top.includes(Buffer.from('Exif\0')), false);
  assert.equal((await sharp(top).metadata()).icc, undefined);
  assert.equal(await readFile(tmp.file('direct/image.dzi'), 'utf8'), await readFile(tmp.file('sharp/image.dzi'), 'utf8'));
});

test('inputs that need a conversion take the sharp path even when direct is asked for', async () => {
  const cases: Array<[string, sharp.Sharp]> = [
    ['rotated.jpg', gradient(300, 200).jpeg().withMetadata({ orientation: 6 })],
    ['grey.jpg', gradient(300, 200).toColourspace('b-w').jpeg()],
    ['p3.jpg', gradient(300, 200).withIccProfile('p3').jpeg()],
    ['alpha.png', gradient(300, 200).ensureAlpha(0.5).png()],
    // A CMYK JPEG goes direct (converted inside libvips, next test) only when it is read as it is.
    ['cmyk-rotated.jpg', gradient(300, 200).toColourspace('cmyk').jpeg().withMetadata({ orientation: 6 })],
    ['cmyk-progressive.jpg', gradient(300, 200).toColourspace('cmyk').jpeg({ progressive: true })],
  ];
  for (const [name, image] of cases) {
    const path = tmp.file(name);
    await image.toFile(path);
    assert.equal(jpegEncoderFor('direct', path, await probe(path), 'jpeg'), 'sharp', name);
    const m = await tileImage(path, tmp.file(`out-${name}`), { jpegEncoder: 'direct', format: 'jpeg' });
    assert.equal(m.jpegEncoder, 'sharp', name);
  }
  // A plain sRGB-tagged photo goes direct; PNG and WebP tiles have no JPEG encoder at all.
  const srgb = tmp.file('srgb.jpg');
  await gradient(300, 200).withIccProfile('srgb').jpeg().toFile(srgb);
  assert.equal(jpegEncoderFor('direct', srgb, await probe(srgb), 'jpeg'), 'direct');
  assert.equal(jpegEncoderFor('direct', srgb, await probe(srgb), 'png'), null);
  assert.equal(jpegEncoderFor('sharp', srgb, await probe(srgb), 'jpeg'), 'sharp');
});

test('a CMYK JPEG goes direct, converted to sRGB inside libvips: the same tiles pixel for pixel as the sharp encoder, tagged or not', async () => {
  // Smooth colours, so that JPEG's loss stays small against the reference decode below.
  const smooth = () => {
    const [width, height] = [1500, 700];
    const data = Buffer.alloc(width * height * 3);
    for (let i = 0, y = 0; y < height; y++) {
      for (let x = 0; x < width; x++, i += 3) data.set([(x * 255) / width, (y * 255) / height, 64 + ((x + y) % 128)], i);
    }
    return sharp(data, { raw: { width, height, channels: 3 } });
  };
  const cases: Array<[string, sharp.Sharp]> = [
    // Untagged: libvips' own CMYK profile, as sharp uses; tagged: the embedded profile.
    ['cmyk-untagged.jpg', smooth().toColourspace('cmyk').jpeg({ quality: 92 })],
    ['cmyk-tagged.jpg', smooth().toColourspace('cmyk').withIccProfile('cmyk').jpeg({ quality: 92 })],
  ];
  for (const [name, image] of cases) {
    const path = tmp.file(name);
    await image.toFile(path);
    const p = await probe(path);
    assert.deepEqual([p.space, p.channels, p.iccProfile], ['cmyk', 4, name === 'cmyk-tagged.jpg'], name);
    assert.equal(jpegEncoderFor('direct', path, p, 'jpeg'), 'direct', name);
    const viaSharpCmyk = await tileImage(path, tmp.file(`out-sharp-${name}`), { jpegEncoder: 'sharp' });
    const directCmyk = await tileImage(path, tmp.file(`out-direct-${name}`), { jpegEncoder: 'direct' });
    assert.deepEqual([viaSharpCmyk.jpegEncoder, directCmyk.jpegEncoder], ['sharp', 'direct'], name);
    const files = await filesUnder(tmp.file(`out-direct-${name}`));
    assert.deepEqual(files, await filesUnder(tmp.file(`out-sharp-${name}`)), name);
    const tiles = files.filter((f) => f.startsWith('image_files/'));
    assert.equal(tiles.length, directCmyk.tiles);
    for (const f of tiles) {
      const tile = tmp.file(join(`out-direct-${name}`, f));
      const meta = await sharp(tile).metadata();
      assert.deepEqual([meta.space, meta.channels], ['srgb', 3], `${name} ${f}: an sRGB tile`);
      assert.deepEqual(await decoded(tile), await decoded(tmp.file(join(`out-sharp-${name}`, f))), `${name} ${f}`);
    }
  }
  // Against a reference decode: the full-size tile 0_0 is the original converted by sharp, within JPEG's loss at q85.
  for (const [name] of cases) {
    const reference = await sharp(tmp.file(name)).toColourspace('srgb').extract({ left: 0, top: 0, width: 256, height: 256 }).raw().toBuffer();
    const tile = await decoded(tmp.file(`out-direct-${name}/image_files/11/0_0.jpeg`));
    assert.equal(tile.length, reference.length, name);
    let diff = 0;
    for (let i = 0; i < tile.length; i++) diff += Math.abs(tile[i]! - reference[i]!);
    assert.ok(diff / tile.length < 3, `${name}: mean difference ${diff / tile.length} from the reference decode`);
  }
});

test('a progressive JPEG goes direct only where it is rewritten as baseline (above maxBufferedPixels), and its tiles are the baseline twin\'s', async () => {
  const progressive = tmp.file('progressive.jpg');
  await gradient(1500, 700).jpeg({ quality: 92, progressive: true }).toFile(progressive);
  // At the default limit (50 MP) this photo is decoded whole into a TIFF: the sharp path, as before.
  assert.equal(jpegEncoderFor('direct', progressive, await probe(progressive), 'jpeg'), 'sharp');
  const rewritten = { maxPixels: DEFAULT_MAX_PIXELS, maxBufferedPixels: 1500 * 700 - 1 };
  assert.equal(jpegEncoderFor('direct', progressive, await probeImage(progressive, rewritten), 'jpeg'), 'direct');
  const m = await tileImage(progressive, tmp.file('out-progressive'), { ...rewritten, jpegEncoder: 'direct' });
  assert.equal(m.jpegEncoder, 'direct');
  assert.equal(m.source.intermediate, 'progressive-jpeg');
  assert.deepEqual(await filesUnder(tmp.file('out-progressive')), await filesUnder(tmp.file('sharp')));
  // The same quality (92) twin cut as a baseline original: the same decoded tiles.
  const twin = tmp.file('progressive-twin.jpg');
  await gradient(1500, 700).jpeg({ quality: 92 }).toFile(twin);
  await tileImage(twin, tmp.file('out-progressive-twin'), { jpegEncoder: 'direct' });
  for (const f of (await filesUnder(tmp.file('out-progressive'))).filter((f) => f.startsWith('image_files/'))) {
    assert.deepEqual(await decoded(tmp.file(join('out-progressive', f))), await decoded(tmp.file(join('out-progressive-twin', f))), f);
  }
});

test('a path libvips would read as load options is not given to it', async () => {
  assert.equal(directSafePath('/a/b/photo.jpg'), true);
  assert.equal(directSafePath('/a/b/photo[1].jpg'), false);
  const odd = tmp.file('photo[1].jpg');
  await gradient(300, 200).jpeg().toFile(odd);
  const m = await tileImage(odd, tmp.file('out-odd'), { jpegEncoder: 'direct' });
  assert.equal(m.jpegEncoder, 'sharp');
  assert.equal(m.width, 300);
});

test('a truncated JPEG fails with HUGEMAP_ERR_CORRUPT_IMAGE and leaves no descriptor', async () => {
  const bad = await truncatedCopy(plain, tmp.file('truncated.jpg'), 0.5);
  const out = tmp.file('out-truncated');
  await assert.rejects(tileImage(bad, out, { jpegEncoder: 'direct' }), (err: unknown) => err instanceof HugemapError && err.code === 'HUGEMAP_ERR_CORRUPT_IMAGE');
  await assert.rejects(stat(join(out, 'image.dzi')));
});

test('a JPEG reaches libvips through a pipe: the file is never mapped while dzsave cuts, and no pipe is left open', async () => {
  // Noise makes a big file and a cut long enough to look at the process's mappings many times.
  const noisy = tmp.file('noisy.jpg');
  await sharp({ create: { width: 4000, height: 3000, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
    .jpeg({ quality: 95 })
    .toFile(noisy);
  const pipesBefore = await openPipes();
  let looks = 0;
  let mapped = 0;
  const watch = setInterval(() => {
    looks++;
    if (readFileSync('/proc/self/maps', 'utf8').includes(noisy)) mapped++;
  }, 2);
  try {
    await dzsaveDirect({ path: noisy, format: 'jpeg' }, tmp.file('noisy-out/image'), 85);
  } finally {
    clearInterval(watch);
  }
  // Not a timing figure: only that the check below looked at all while dzsave ran (it runs off the event loop).
  assert.ok(looks > 0, 'looked at the mappings during the cut');
  assert.equal(mapped, 0, 'the input file was memory-mapped');
  // 4000 x 3000 in 256 px tiles: 16 x 12 at full size, every level down to 1 x 1.
  assert.equal((await readdir(tmp.file('noisy-out/image_files/12'))).length, 16 * 12);
  assert.deepEqual([...(await openPipes())].filter((p) => !pipesBefore.has(p)), []);
});

test('an input that cannot be read fails with its own error, and no pipe is left open', async () => {
  const pipesBefore = await openPipes();
  await assert.rejects(dzsaveDirect({ path: tmp.file('missing.jpg'), format: 'jpeg' }, tmp.file('out-missing/image'), 85), { code: 'ENOENT' });
  const bad = await truncatedCopy(plain, tmp.file('truncated-direct.jpg'), 0.5);
  await assert.rejects(dzsaveDirect({ path: bad, format: 'jpeg' }, tmp.file('out-truncated-direct/image'), 85), /VipsJpeg|premature|truncated/i);
  assert.deepEqual([...(await openPipes())].filter((p) => !pipesBefore.has(p)), []);
});

test('an unknown encoder is refused', async () => {
  await assert.rejects(tileImage(plain, tmp.file('out-unknown'), { jpegEncoder: 'fast' as never }), /jpegEncoder must be one of direct, sharp/);
});

test('the tiler id tells the encoders apart and keeps the sharp id unchanged', () => {
  assert.notEqual(tilerId('jpeg', 85, 'direct'), tilerId('jpeg', 85, 'sharp'));
  assert.equal(tilerId('jpeg', 85, 'sharp'), tilerId('jpeg', 85));
  // Not the id of direct mode without the Huffman pass: those tiles had other bytes.
  assert.match(tilerId('jpeg', 85, 'direct'), / direct\+huffman$/);
});
